import { randomUUID } from "node:crypto";
import type { IncomingHttpHeaders } from "node:http";
import type { AccessClaims, AccessTokens } from "./auth/access-tokens";
import {
  readRefreshCookie,
  requestedTransport,
  type RefreshTokenTransport,
} from "./auth/refresh-cookie";
import type { TokenErrorReason } from "./errors";
import type { Services } from "./services/services";

/** Who is calling, as far as the access token says. Nothing here came from the database. */
export type Caller =
  | { readonly kind: "anonymous" }
  | { readonly kind: "authenticated"; readonly claims: AccessClaims }
  | { readonly kind: "invalid-token"; readonly reason: TokenErrorReason };

export interface Context {
  readonly requestId: string;
  /** The socket's address, or the X-Forwarded-For hop picked by TRUST_PROXY (request.ip). */
  readonly clientIp: string;
  readonly caller: Caller;
  readonly services: Services;
  /** Where this client wants its refresh token: in the response body, or in a cookie. */
  readonly refreshTokenTransport: RefreshTokenTransport;
  /** The refresh token cookie sent with this request, if any. */
  readonly refreshTokenCookie: string | undefined;
  /** Filled in by resolvers that learn who the caller is (signin, refresh), for the log line. */
  readonly identified: { userId?: string };
  /** Sets (token) or clears (null) the refresh token cookie on the response. */
  readonly setRefreshTokenCookie: (token: { value: string; expiresAt: Date } | null) => void;
}

const ANONYMOUS: Caller = Object.freeze({ kind: "anonymous" });

/**
 * Reads the access token from `Authorization: Bearer <jwt>` or, as the tutorial's clients send
 * it, `x-access-token: <jwt>`. Authorization wins when both are present. A header that is there
 * but not of that shape is an invalid token, not an anonymous request: the client meant to
 * authenticate and should learn that it failed.
 */
export function extractAccessToken(
  headers: IncomingHttpHeaders,
): { token: string } | { invalid: true } | undefined {
  const authorization = headers.authorization;
  if (authorization !== undefined && authorization !== "") {
    const match = /^Bearer ([^\s]+)$/i.exec(authorization);
    return match?.[1] ? { token: match[1] } : { invalid: true };
  }
  const legacy = headers["x-access-token"];
  if (typeof legacy === "string" && legacy !== "") {
    return /^[^\s]+$/.test(legacy) ? { token: legacy } : { invalid: true };
  }
  return undefined;
}

export function identifyCaller(headers: IncomingHttpHeaders, accessTokens: AccessTokens): Caller {
  const extracted = extractAccessToken(headers);
  if (extracted === undefined) return ANONYMOUS;
  if ("invalid" in extracted) return { kind: "invalid-token", reason: "TOKEN_INVALID" };
  const result = accessTokens.verify(extracted.token);
  return result.ok
    ? { kind: "authenticated", claims: result.claims }
    : { kind: "invalid-token", reason: result.reason };
}

export interface RequestInfo {
  readonly headers: IncomingHttpHeaders;
  readonly ip?: string | undefined;
}

export function createContext(
  request: RequestInfo,
  services: Services,
  options: {
    requestId?: string;
    setRefreshTokenCookie?: Context["setRefreshTokenCookie"];
  } = {},
): Context {
  return {
    requestId: options.requestId ?? randomUUID(),
    clientIp: request.ip ?? "unknown",
    caller: identifyCaller(request.headers, services.accessTokens),
    services,
    refreshTokenTransport: requestedTransport(request.headers),
    refreshTokenCookie: readRefreshCookie(request.headers),
    identified: {},
    setRefreshTokenCookie: options.setRefreshTokenCookie ?? (() => undefined),
  };
}
