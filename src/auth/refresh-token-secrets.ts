import { createHash, randomBytes, timingSafeEqual } from "node:crypto";

/** 256 bits from the OS CSPRNG, base64url: unguessable and safe in headers, cookies and JSON. */
export function generateRefreshToken(): string {
  return randomBytes(32).toString("base64url");
}

/**
 * Refresh tokens carry 256 bits of entropy, so a fast unsalted hash is enough: there is nothing
 * to brute-force, and the lookup must be by exact hash.
 */
export function hashRefreshToken(token: string): string {
  return createHash("sha256").update(token, "utf8").digest("hex");
}

/** Whether `secret` is the one whose hash is `storedHash`, in time that does not tell how close. */
export function refreshSecretMatches(secret: string, storedHash: string): boolean {
  const presented = Buffer.from(hashRefreshToken(secret), "hex");
  const stored = Buffer.from(storedHash, "hex");
  return presented.length === stored.length && timingSafeEqual(presented, stored);
}
