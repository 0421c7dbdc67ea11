import { randomUUID } from "node:crypto";
import jwt from "jsonwebtoken";
import { nowSeconds, type Clock } from "../clock";
import type { TokenErrorReason } from "../errors";
import { isRole, type Role } from "../entities/role";
import { customClaims, type ClaimsPreset } from "./custom-claims";
import type { KeyRing } from "./signing-keys";

export interface AccessClaims {
  readonly userId: string;
  readonly roles: readonly Role[];
  /** The session the token was issued for (the `sid` claim). */
  readonly sessionId: string;
  readonly tokenId: string;
  readonly expiresAt: Date;
}

export interface AccessTokenSubject {
  readonly id: string;
  readonly roles: readonly Role[];
  readonly sessionId: string;
  readonly username: string;
  readonly email: string;
}

export type VerifyResult =
  | { readonly ok: true; readonly claims: AccessClaims }
  | { readonly ok: false; readonly reason: TokenErrorReason };

export interface AccessTokenOptions {
  readonly keys: KeyRing;
  readonly issuer: string;
  readonly audience: string;
  readonly ttlSeconds: number;
  readonly claimsPreset: ClaimsPreset;
  /** How many verified tokens to remember; 0 turns the cache off. */
  readonly cacheSize?: number;
  readonly clock: Clock;
}

/**
 * Tolerance for clocks of other instances that sign tokens: an iat further ahead than this
 * is a forged or mis-issued token, refused.
 */
export const CLOCK_SKEW_SECONDS = 30;

/** Signing was asked before the managed keys were loaded from the database. */
export class SigningKeysUnavailableError extends Error {
  constructor() {
    super("no signing key is loaded yet (the database may be unreachable)");
    this.name = "SigningKeysUnavailableError";
  }
}

type Decoded = { readonly ok: true; readonly kid: string } | { readonly ok: false };

/** The header's kid, if the header names exactly the algorithm this server uses. */
function headerOf(token: string, algorithm: string): Decoded {
  const dot = token.indexOf(".");
  if (dot <= 0) return { ok: false };
  try {
    const header = JSON.parse(Buffer.from(token.slice(0, dot), "base64url").toString("utf8")) as {
      alg?: unknown;
      kid?: unknown;
    };
    return header.alg === algorithm && typeof header.kid === "string" && header.kid.length <= 128
      ? { ok: true, kid: header.kid }
      : { ok: false };
  } catch {
    return { ok: false };
  }
}

/**
 * Signs and verifies short-lived access tokens (JWT) with the server's key ring: ES256 or RS256
 * (published as a JWKS for other services), or HS256 with a shared secret. Every token names
 * its key (`kid`); verification accepts only the configured algorithm and only known kids, so
 * there is no "none", no RS/HS confusion and no key a token can bring along.
 *
 * Verified tokens are remembered until their own expiry in a bounded cache, because verifying
 * the same token on every request of a session dominated authorized reads.
 */
export class AccessTokens {
  private readonly verified = new Map<string, AccessClaims>();
  private readonly cacheSize: number;

  constructor(private readonly options: AccessTokenOptions) {
    this.cacheSize = options.cacheSize ?? 10_000;
  }

  get keys(): KeyRing {
    return this.options.keys;
  }

  async sign(user: AccessTokenSubject): Promise<{ token: string; expiresAt: Date }> {
    await this.options.keys.ensureCurrent();
    const key = this.options.keys.signing();
    if (!key) throw new SigningKeysUnavailableError();
    const iat = nowSeconds(this.options.clock);
    const exp = iat + this.options.ttlSeconds;
    const registered = {
      roles: [...user.roles],
      sid: user.sessionId,
      iat,
      exp,
      sub: user.id,
      iss: this.options.issuer,
      aud: this.options.audience,
      jti: randomUUID(),
    };
    const token = jwt.sign(
      { ...customClaims(user, this.options.claimsPreset), ...registered },
      key.key,
      { algorithm: key.algorithm, keyid: key.kid },
    );
    return { token, expiresAt: new Date(exp * 1000) };
  }

  /**
   * Verifies a token; one signed by a key this instance has not loaded yet (another instance's
   * new key) makes it reload its keys once, rate-limited, and try again.
   */
  async verify(token: string): Promise<VerifyResult> {
    const first = this.verifyLoaded(token);
    if (first !== "unknown-kid") return first;
    if (!(await this.options.keys.reloadForUnknownKid()))
      return { ok: false, reason: "TOKEN_INVALID" };
    const second = this.verifyLoaded(token);
    return second === "unknown-kid" ? { ok: false, reason: "TOKEN_INVALID" } : second;
  }

  /** Verification with the keys in memory: the request path, without any I/O. */
  verifyLoaded(token: string): VerifyResult | "unknown-kid" {
    const cached = this.verified.get(token);
    if (cached) {
      if (cached.expiresAt.getTime() > this.options.clock.nowMs()) {
        return { ok: true, claims: cached };
      }
      this.verified.delete(token);
      return { ok: false, reason: "TOKEN_EXPIRED" };
    }

    const header = headerOf(token, this.options.keys.algorithm);
    if (!header.ok) return { ok: false, reason: "TOKEN_INVALID" };
    const key = this.options.keys.verifying(header.kid);
    if (!key) return "unknown-kid";

    let payload: string | jwt.JwtPayload;
    try {
      payload = jwt.verify(token, key, {
        algorithms: [this.options.keys.algorithm],
        issuer: this.options.issuer,
        audience: this.options.audience,
        clockTimestamp: nowSeconds(this.options.clock),
      });
    } catch (error) {
      // jsonwebtoken checks the signature before the expiry, so only a token we signed
      // can ever be reported as expired.
      return {
        ok: false,
        reason: error instanceof jwt.TokenExpiredError ? "TOKEN_EXPIRED" : "TOKEN_INVALID",
      };
    }

    const claims = toClaims(payload, nowSeconds(this.options.clock));
    if (!claims) return { ok: false, reason: "TOKEN_INVALID" };
    this.remember(token, claims);
    return { ok: true, claims };
  }

  private remember(token: string, claims: AccessClaims): void {
    if (this.cacheSize <= 0) return;
    if (this.verified.size >= this.cacheSize) {
      // Map iterates in insertion order: drop the oldest entry.
      const oldest = this.verified.keys().next();
      if (!oldest.done) this.verified.delete(oldest.value);
    }
    this.verified.set(token, claims);
  }
}

function toClaims(payload: string | jwt.JwtPayload, now: number): AccessClaims | undefined {
  if (typeof payload === "string") return undefined;
  const { sub, roles, jti, exp, iat, sid } = payload;
  if (
    typeof sub !== "string" ||
    typeof jti !== "string" ||
    typeof exp !== "number" ||
    typeof sid !== "string" ||
    typeof iat !== "number"
  ) {
    return undefined;
  }
  // Issued in the future: jsonwebtoken does not check iat, and such a token would outlive
  // its ACCESS_TOKEN_TTL.
  if (iat > now + CLOCK_SKEW_SECONDS) return undefined;
  if (!Array.isArray(roles) || !roles.every(isRole)) return undefined;
  return Object.freeze({
    userId: sub,
    roles: Object.freeze([...roles]),
    sessionId: sid,
    tokenId: jti,
    expiresAt: new Date(exp * 1000),
  });
}
