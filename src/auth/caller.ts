import type { TokenErrorReason } from "../errors";
import { Role } from "../entities/role";
import type { AccessClaims } from "./access-tokens";

/** Who is calling, as far as the access token says. Nothing here came from the database. */
export type Caller =
  | { readonly kind: "anonymous" }
  | { readonly kind: "authenticated"; readonly claims: AccessClaims }
  | { readonly kind: "invalid-token"; readonly reason: TokenErrorReason };

export const ANONYMOUS: Caller = Object.freeze({ kind: "anonymous" });

export function isAdmin(caller: Caller): boolean {
  return caller.kind === "authenticated" && caller.claims.roles.includes(Role.ADMIN);
}
