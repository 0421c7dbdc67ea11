import type { FastifyInstance } from "fastify";
import type { KeyRing } from "./auth/signing-keys";

export const JWKS_PATH = "/.well-known/jwks.json";
export const OPENID_CONFIGURATION_PATH = "/.well-known/openid-configuration";

/**
 * Where other services find the public keys that verify this server's access tokens: the JWKS
 * (RFC 7517), and a minimal OpenID discovery document for gateways configured with an issuer
 * URL. Public keys only; with HS256 the JWKS is empty (the shared secret is never published).
 * The JWKS may be cached for less than the time a new key is published before it signs
 * anything, so a cache always holds a key before the first token it signed arrives.
 */
export function serveKeyDiscovery(app: FastifyInstance, keys: KeyRing, issuer: string): void {
  app.get(JWKS_PATH, async (_request, reply) =>
    reply
      .header("cache-control", `public, max-age=${keys.jwksMaxAgeSeconds}`)
      .send({ keys: keys.jwks() }),
  );
  app.get(OPENID_CONFIGURATION_PATH, async (request, reply) => {
    const origin = `${request.protocol}://${request.host}`;
    return reply.header("cache-control", "public, max-age=300").send({
      issuer,
      jwks_uri: `${origin}${JWKS_PATH}`,
      id_token_signing_alg_values_supported: [keys.algorithm],
      token_endpoint_auth_methods_supported: ["none"],
      subject_types_supported: ["public"],
      response_types_supported: ["token"],
      claims_supported: ["sub", "iss", "aud", "exp", "iat", "jti", "sid", "roles"],
    });
  });
}
