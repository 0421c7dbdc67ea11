import { createHash } from "node:crypto";
import type { Clock } from "../clock";
import { collectionHeads, RecordContentionError, VersionedRecords } from "../db/versioned-records";
import { HEAD_COLLECTIONS } from "../entities/versioned-record.entity";
import { RateLimitError } from "../errors";

/** At most `limit` requests per `windowSeconds`, counted over a sliding window. */
export interface RateLimit {
  readonly limit: number;
  readonly windowSeconds: number;
}

interface Hits {
  readonly expiresAtMs: number;
  /** When each counted request came (ms), oldest first; at most `limit` of them. */
  readonly at: readonly number[];
}

/**
 * Request limits shared by every instance: one compare-and-set record per key in `records`
 * (src/db/versioned-records.ts), so concurrent requests on several instances all see each
 * other and no more than the limit get through. A refused request is not counted: it did no
 * work. Records say when they stop mattering, and the retention sweep removes them.
 */
export class RateLimiter {
  private readonly records: VersionedRecords;

  constructor(private readonly clock: Clock) {
    this.records = new VersionedRecords(clock, collectionHeads(HEAD_COLLECTIONS.records));
  }

  /** Counts one request for `key`, or throws RateLimitError (TOO_MANY_REQUESTS) past the limit. */
  async hit(key: string, rule: RateLimit): Promise<void> {
    const now = this.clock.nowMs();
    const windowMs = rule.windowSeconds * 1000;
    let waitMs: number;
    try {
      waitMs = await this.records.update<Hits, number>(`rate:${key}`, (hits) => {
        const recent = (hits?.at ?? []).filter((at) => at > now - windowMs);
        if (recent.length >= rule.limit) {
          // Free again when the oldest counted request leaves the window.
          return { result: recent[recent.length - rule.limit]! + windowMs - now };
        }
        const at = [...recent, now];
        return { next: { at, expiresAtMs: now + windowMs }, result: 0 };
      });
    } catch (error) {
      // Dozens of requests at once for one key: a script, not a person.
      if (error instanceof RecordContentionError) throw new RateLimitError(1);
      throw error;
    }
    if (waitMs > 0) throw new RateLimitError(Math.max(1, Math.ceil(waitMs / 1000)));
  }
}

/**
 * A limiter key for a value a client typed (an email address): its hash, so the records do not
 * collect the addresses people try.
 */
export function hashedKey(scope: string, value: string): string {
  return `${scope}:${createHash("sha256").update(value, "utf8").digest("base64url").slice(0, 27)}`;
}
