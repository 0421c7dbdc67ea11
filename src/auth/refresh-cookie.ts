import type { IncomingHttpHeaders } from "node:http";

/**
 * The browser transport for refresh tokens: an httpOnly cookie that page scripts cannot read
 * (a token in JSON ends up in localStorage, where any injected script finds it).
 *
 * SameSite=Strict keeps the browser from sending it with requests started by other sites,
 * and Apollo's CSRF prevention refuses the "simple" requests a form or <img> could make, so a
 * cross-site page can neither read nor ride the cookie. Path=/graphql keeps it off every other
 * route of the origin.
 */
export const REFRESH_COOKIE_NAME = "refresh_token";
export const TRANSPORT_HEADER = "x-refresh-token-transport";

export type RefreshTokenTransport = "body" | "cookie";

export function requestedTransport(headers: IncomingHttpHeaders): RefreshTokenTransport {
  const value = headers[TRANSPORT_HEADER];
  return typeof value === "string" && value.trim().toLowerCase() === "cookie" ? "cookie" : "body";
}

/** The refresh token cookie's value, if the request carries exactly one. */
export function readRefreshCookie(headers: IncomingHttpHeaders): string | undefined {
  const header = headers.cookie;
  if (!header) return undefined;
  const values: string[] = [];
  for (const part of header.split(";")) {
    const separator = part.indexOf("=");
    if (separator < 0) continue;
    if (part.slice(0, separator).trim() !== REFRESH_COOKIE_NAME) continue;
    values.push(part.slice(separator + 1).trim());
  }
  // Two cookies of that name means someone planted one (e.g. from a sibling subdomain):
  // trust neither.
  return values.length === 1 && /^[A-Za-z0-9_-]{1,256}$/.test(values[0] ?? "")
    ? values[0]
    : undefined;
}

export interface CookieOptions {
  readonly path: string;
  readonly secure: boolean;
}

export function refreshCookieHeader(
  token: string,
  expiresAt: Date,
  options: CookieOptions,
): string {
  return [
    `${REFRESH_COOKIE_NAME}=${token}`,
    `Path=${options.path}`,
    `Expires=${expiresAt.toUTCString()}`,
    "HttpOnly",
    "SameSite=Strict",
    ...(options.secure ? ["Secure"] : []),
  ].join("; ");
}

export function clearRefreshCookieHeader(options: CookieOptions): string {
  return [
    `${REFRESH_COOKIE_NAME}=`,
    `Path=${options.path}`,
    "Expires=Thu, 01 Jan 1970 00:00:00 GMT",
    "HttpOnly",
    "SameSite=Strict",
    ...(options.secure ? ["Secure"] : []),
  ].join("; ");
}
