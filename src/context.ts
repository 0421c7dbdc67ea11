import { randomUUID } from "node:crypto";
import type { IncomingHttpHeaders } from "node:http";
import type { AccessTokens, VerifyResult } from "./auth/access-tokens";
import { ANONYMOUS, type Caller } from "./auth/caller";
import { RefreshTokenTransport, type CookieOptions } from "./auth/refresh-token-transport";
import type { ClientInfo } from "./services/sessions";
import type { Services } from "./services/services";

export type { Caller } from "./auth/caller";

export interface Context {
  readonly requestId: string;
  /** The socket's address, or the X-Forwarded-For hop picked by TRUST_PROXY (request.ip). */
  readonly clientIp: string;
  /** Where the request came from, as sessions record it. */
  readonly client: ClientInfo;
  readonly caller: Caller;
  readonly services: Services;
  /** Reads and delivers this request's refresh token (body or httpOnly cookie). */
  readonly refreshTokens: RefreshTokenTransport;
  /** REVOKED_SESSION_CHECK: the caller's session checked once per request, then remembered. */
  readonly sessionCheck: () => Promise<void>;
  /** Filled in by resolvers that learn who the caller is (signin, refresh), for the log line. */
  readonly identified: { userId?: string };
}

/**
 * Reads the access token from `Authorization: Bearer <jwt>` or, as the tutorial's clients send
 * it, `x-access-token: <jwt>`. Authorization wins when both are present. A header that is there
 * but not of that shape is an invalid token, not an anonymous request: the client meant to
 * authenticate and should learn that it failed. RFC 6750 allows one or more spaces after
 * "Bearer".
 */
export function extractAccessToken(
  headers: IncomingHttpHeaders,
): { token: string } | { invalid: true } | undefined {
  const authorization = headers.authorization;
  if (authorization !== undefined && authorization !== "") {
    const match = /^Bearer +([^\s]+) *$/i.exec(authorization);
    return match?.[1] ? { token: match[1] } : { invalid: true };
  }
  const legacy = headers["x-access-token"];
  if (typeof legacy === "string" && legacy !== "") {
    return /^[^\s]+$/.test(legacy) ? { token: legacy } : { invalid: true };
  }
  return undefined;
}

function callerOf(result: VerifyResult): Caller {
  return result.ok
    ? { kind: "authenticated", claims: result.claims }
    : { kind: "invalid-token", reason: result.reason };
}

/**
 * The caller as the access token says. Synchronous on the request path; only a token signed
 * by a key this instance has not loaded yet waits for a (rate-limited) reload of the keys.
 */
export function identifyCaller(
  headers: IncomingHttpHeaders,
  accessTokens: AccessTokens,
): Caller | Promise<Caller> {
  const extracted = extractAccessToken(headers);
  if (extracted === undefined) return ANONYMOUS;
  if ("invalid" in extracted) return { kind: "invalid-token", reason: "TOKEN_INVALID" };
  const result = accessTokens.verifyLoaded(extracted.token);
  return result === "unknown-kid"
    ? accessTokens.verify(extracted.token).then(callerOf)
    : callerOf(result);
}

export interface RequestInfo {
  readonly headers: IncomingHttpHeaders;
  readonly ip?: string | undefined;
}

export interface ContextOptions {
  readonly requestId?: string;
  /** Adds a Set-Cookie header to the response. */
  readonly appendSetCookie?: (header: string) => void;
  readonly cookie?: CookieOptions;
}

export async function createContext(
  request: RequestInfo,
  services: Services,
  options: ContextOptions = {},
): Promise<Context> {
  const clientIp = request.ip ?? "unknown";
  const userAgent = request.headers["user-agent"];
  const caller = await identifyCaller(request.headers, services.accessTokens);
  let checked: Promise<void> | undefined;
  return {
    requestId: options.requestId ?? randomUUID(),
    clientIp,
    client: { ip: clientIp, userAgent: typeof userAgent === "string" ? userAgent : undefined },
    caller,
    sessionCheck: () => {
      const { checkSession } = services;
      if (!checkSession || caller.kind !== "authenticated") return Promise.resolve();
      checked ??= checkSession(caller.claims.sessionId);
      return checked;
    },
    services,
    refreshTokens: new RefreshTokenTransport(
      request.headers,
      options.appendSetCookie ?? (() => undefined),
      options.cookie ?? { path: "/graphql", secure: true },
    ),
    identified: {},
  };
}
