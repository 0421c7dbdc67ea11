import { Role } from "../entities/role";

/**
 * Claims added to every access token beyond the registered ones, in one place: edit
 * `extraClaims` to add your own (a tenant id, a plan). JWT_CLAIMS_PRESET=hasura adds Hasura's
 * documented claim set, so Hasura can use this server as its authentication.
 *
 * What is added here can never replace the claims the server relies on (sub, iss, aud, exp,
 * iat, nbf, jti, sid, roles): the signer writes those last.
 */
export type ClaimsPreset = "none" | "hasura";

export interface ClaimsSubject {
  readonly id: string;
  readonly roles: readonly Role[];
  readonly username: string;
  readonly email: string;
}

export const REGISTERED_CLAIMS: ReadonlySet<string> = new Set([
  "sub",
  "iss",
  "aud",
  "exp",
  "iat",
  "nbf",
  "jti",
  "sid",
  "roles",
]);

/** Your own claims: return what other services should read from the token. */
function extraClaims(user: ClaimsSubject): Record<string, unknown> {
  void user;
  return {};
}

/** https://hasura.io/docs/latest/auth/authentication/jwt/ : roles as Hasura role names. */
function hasuraClaims(user: ClaimsSubject): Record<string, unknown> {
  const allowed = user.roles.map((role) => role.toLowerCase());
  const defaultRole = user.roles.includes(Role.USER) ? "user" : (allowed[0] ?? "user");
  return {
    "https://hasura.io/jwt/claims": {
      "x-hasura-allowed-roles": allowed,
      "x-hasura-default-role": defaultRole,
      "x-hasura-user-id": user.id,
    },
  };
}

export function customClaims(user: ClaimsSubject, preset: ClaimsPreset): Record<string, unknown> {
  const claims = { ...extraClaims(user), ...(preset === "hasura" ? hasuraClaims(user) : {}) };
  for (const name of Object.keys(claims)) if (REGISTERED_CLAIMS.has(name)) delete claims[name];
  return claims;
}
