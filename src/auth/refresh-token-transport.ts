import type { IncomingHttpHeaders } from "node:http";
import { AuthenticationError } from "../errors";

/**
 * How refresh tokens travel between this server and one client request: in the JSON body, or
 * in an httpOnly cookie that page scripts cannot read (a token in JSON ends up in
 * localStorage, where any injected script finds it). One instance per request owns every
 * decision about it: which token the request presents, where a new one goes, when the cookie
 * is cleared. Resolvers call it; nothing else reads or writes the cookie.
 *
 * SameSite=Strict keeps the browser from sending the cookie with requests other sites start,
 * and Apollo's CSRF prevention refuses the "simple" requests a form or <img> could make, so a
 * cross-site page can neither read nor ride it. Path=/graphql keeps it off every other route.
 */
export const REFRESH_COOKIE_NAME = "refresh_token";
export const TRANSPORT_HEADER = "x-refresh-token-transport";

export interface CookieOptions {
  /** Where the cookie is sent: the GraphQL endpoint's path. */
  readonly path: string;
  readonly secure: boolean;
}

export type TokenSource = "argument" | "cookie";

export interface PresentedToken {
  readonly token: string;
  readonly source: TokenSource;
}

type CookieState =
  | { readonly kind: "none" }
  | { readonly kind: "one"; readonly token: string }
  /** Two cookies of the name (one planted, e.g. from a sibling subdomain), or a malformed one. */
  | { readonly kind: "unusable" };

function readCookie(headers: IncomingHttpHeaders): CookieState {
  const header = headers.cookie;
  if (!header) return { kind: "none" };
  const values: string[] = [];
  for (const part of header.split(";")) {
    const separator = part.indexOf("=");
    if (separator < 0) continue;
    if (part.slice(0, separator).trim() !== REFRESH_COOKIE_NAME) continue;
    values.push(part.slice(separator + 1).trim());
  }
  if (values.length === 0) return { kind: "none" };
  const [only] = values;
  return values.length === 1 && only !== undefined && /^[A-Za-z0-9_.-]{1,256}$/.test(only)
    ? { kind: "one", token: only }
    : { kind: "unusable" };
}

function cookieHeader(value: string, expires: Date, path: string, secure: boolean): string {
  return [
    `${REFRESH_COOKIE_NAME}=${value}`,
    `Path=${path}`,
    `Expires=${expires.toUTCString()}`,
    "HttpOnly",
    "SameSite=Strict",
    ...(secure ? ["Secure"] : []),
  ].join("; ");
}

export class RefreshTokenTransport {
  private readonly cookie: CookieState;
  /** The client asked for the cookie transport (header x-refresh-token-transport: cookie). */
  readonly wantsCookie: boolean;

  constructor(
    headers: IncomingHttpHeaders,
    private readonly appendSetCookie: (header: string) => void,
    private readonly options: CookieOptions,
  ) {
    this.cookie = readCookie(headers);
    const requested = headers[TRANSPORT_HEADER];
    this.wantsCookie = typeof requested === "string" && requested.trim().toLowerCase() === "cookie";
  }

  /**
   * The token a refreshToken or signout call acts on: the argument when given, else the
   * cookie. Two cookies of the name are a planted one: both are cleared and the request fails.
   */
  presented(argument: string | null | undefined): PresentedToken {
    if (this.cookie.kind === "unusable") {
      this.clearCookie({ alsoSiteWide: true });
      throw new AuthenticationError("REFRESH_TOKEN_INVALID");
    }
    if (argument !== null && argument !== undefined) return { token: argument, source: "argument" };
    if (this.cookie.kind === "one") return { token: this.cookie.token, source: "cookie" };
    throw new AuthenticationError("REFRESH_TOKEN_INVALID");
  }

  /** The refresh token cookie of this request, if it carries exactly one. */
  cookieToken(): string | undefined {
    return this.cookie.kind === "one" ? this.cookie.token : undefined;
  }

  /**
   * Sends a new refresh token where it belongs and returns what the JSON body carries: null
   * when it went into the cookie. A token that came from the cookie only ever goes back into
   * the cookie, whatever the headers say: otherwise any script on the page could trade the
   * httpOnly cookie for a readable token.
   */
  deliver(token: string, expiresAt: Date, cameFrom: TokenSource | "signin"): string | null {
    if (cameFrom === "cookie" || this.wantsCookie) {
      this.appendSetCookie(cookieHeader(token, expiresAt, this.options.path, this.options.secure));
      return null;
    }
    return token;
  }

  /**
   * Clears the cookie; with alsoSiteWide, at Path=/ too, where a planted second cookie of the
   * name would otherwise survive and be sent again with the next request.
   */
  clearCookie(options: { alsoSiteWide?: boolean } = {}): void {
    const past = new Date(0);
    const paths = options.alsoSiteWide ? [this.options.path, "/"] : [this.options.path];
    for (const path of paths) {
      this.appendSetCookie(cookieHeader("", past, path, this.options.secure));
    }
  }

  hasCookie(): boolean {
    return this.cookie.kind !== "none";
  }
}
