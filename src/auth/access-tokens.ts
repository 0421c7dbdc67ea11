import { createSecretKey, randomUUID, type KeyObject } from "node:crypto";
import jwt from "jsonwebtoken";
import { nowSeconds, type Clock } from "../clock";
import type { TokenErrorReason } from "../errors";
import { isRole, type Role } from "../entities/role";

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
}

export type VerifyResult =
  | { readonly ok: true; readonly claims: AccessClaims }
  | { readonly ok: false; readonly reason: TokenErrorReason };

export interface AccessTokenOptions {
  readonly secret: string;
  readonly issuer: string;
  readonly audience: string;
  readonly ttlSeconds: number;
  /** How many verified tokens to remember; 0 turns the cache off. */
  readonly cacheSize?: number;
  readonly clock: Clock;
}

/**
 * Tolerance for clocks of other instances that sign tokens: an iat further ahead than this
 * is a forged or mis-issued token, refused.
 */
export const CLOCK_SKEW_SECONDS = 30;

// The only algorithm we sign with is the only one we accept: no "none", no RS/HS confusion.
const ALGORITHMS: jwt.Algorithm[] = ["HS256"];

/**
 * Signs and verifies short-lived access tokens (JWT, HS256).
 *
 * The key is built once (jsonwebtoken rebuilds it from a string secret on every call), and
 * verified tokens are remembered until their own expiry in a bounded cache, because verifying
 * the same token on every request of a session dominated authorized reads.
 */
export class AccessTokens {
  private readonly key: KeyObject;
  private readonly verified = new Map<string, AccessClaims>();
  private readonly cacheSize: number;

  constructor(private readonly options: AccessTokenOptions) {
    this.key = createSecretKey(Buffer.from(options.secret, "utf8"));
    this.cacheSize = options.cacheSize ?? 10_000;
  }

  sign(user: AccessTokenSubject): { token: string; expiresAt: Date } {
    const iat = nowSeconds(this.options.clock);
    const exp = iat + this.options.ttlSeconds;
    const token = jwt.sign({ roles: [...user.roles], sid: user.sessionId, iat, exp }, this.key, {
      algorithm: "HS256",
      subject: user.id,
      issuer: this.options.issuer,
      audience: this.options.audience,
      jwtid: randomUUID(),
    });
    return { token, expiresAt: new Date(exp * 1000) };
  }

  verify(token: string): VerifyResult {
    const cached = this.verified.get(token);
    if (cached) {
      if (cached.expiresAt.getTime() > this.options.clock.nowMs())
        return { ok: true, claims: cached };
      this.verified.delete(token);
      return { ok: false, reason: "TOKEN_EXPIRED" };
    }

    let payload: string | jwt.JwtPayload;
    try {
      payload = jwt.verify(token, this.key, {
        algorithms: ALGORITHMS,
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
