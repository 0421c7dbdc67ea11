import { createHash, randomBytes } from "node:crypto";
import type { Types } from "mongoose";
import type { Clock } from "../clock";
import { deleteById } from "../db/atomic-writes";
import { collectionHeads, VersionedRecords } from "../db/versioned-records";
import {
  emailTokenCollection,
  type EmailToken,
  type EmailTokenKind,
} from "../entities/email-token.entity";
import { HEAD_COLLECTIONS } from "../entities/versioned-record.entity";
import { AuthenticationError } from "../errors";

export interface IssuedEmailToken {
  readonly token: string;
  readonly expiresAt: Date;
}

/** The newest token of one kind for one account: the only one that works. */
interface Newest {
  /** Its hash; null once revoked (the password changed). */
  readonly hash: string | null;
  readonly expiresAtMs: number;
}

/** 32 random bytes in base64url: what we issue. Anything else is refused before any lookup. */
const TOKEN_PATTERN = /^[A-Za-z0-9_-]{43}$/;

function hashToken(token: string): string {
  return createHash("sha256").update(token, "utf8").digest("hex");
}

const invalid = () => new AuthenticationError("EMAIL_TOKEN_INVALID");

/**
 * Tokens sent by mail (verify an address, reset a password): 256 random bits, stored only as
 * their SHA-256 hash, valid for a configurable time, spent by a delete by _id (one winner).
 *
 * Only the newest token of each kind works for an account: issuing one deletes the one before,
 * and a compare-and-set record per account and kind (in `records`) names the newest, so even a
 * token whose delete was lost to a crash stops working once a newer one exists.
 */
export class EmailTokens {
  private readonly newest: VersionedRecords;

  constructor(
    private readonly clock: Clock,
    private readonly ttlSeconds: Readonly<Record<EmailTokenKind, number>>,
  ) {
    this.newest = new VersionedRecords(clock, collectionHeads(HEAD_COLLECTIONS.records));
  }

  /** A new token for the account's `email`; the previous one of this kind stops working. */
  async issue(kind: EmailTokenKind, userId: Types.ObjectId, email: string) {
    const token = randomBytes(32).toString("base64url");
    const hash = hashToken(token);
    const now = this.clock.nowMs();
    const expiresAt = new Date(now + this.ttlSeconds[kind] * 1000);
    await emailTokenCollection.insertOne({
      _id: hash,
      kind,
      userId,
      email,
      createdAt: new Date(now),
      expiresAt,
    });
    const previous = await this.newest.update<Newest, string | null>(
      newestKey(kind, userId),
      (current) => ({
        next: { hash, expiresAtMs: expiresAt.getTime() },
        result: current?.hash ?? null,
      }),
    );
    if (previous !== null && previous !== hash) await deleteById(emailTokenCollection, previous);
    return { token, expiresAt } satisfies IssuedEmailToken;
  }

  /**
   * The stored token if it can be spent now, without spending it. Unknown, spent, superseded
   * or of another kind: EMAIL_TOKEN_INVALID; past its time: EMAIL_TOKEN_EXPIRED.
   */
  async check(kind: EmailTokenKind, token: string): Promise<EmailToken> {
    if (!TOKEN_PATTERN.test(token)) throw invalid();
    const stored = await emailTokenCollection.findOne({ _id: hashToken(token) });
    if (!stored || stored.kind !== kind) throw invalid();
    if (stored.expiresAt.getTime() <= this.clock.nowMs()) {
      throw new AuthenticationError("EMAIL_TOKEN_EXPIRED");
    }
    const newest = await this.newest.read<Newest>(newestKey(kind, stored.userId));
    if (newest?.hash !== stored._id) throw invalid();
    return stored;
  }

  /** Spends a checked token: true for exactly one of several concurrent callers. */
  spend(token: EmailToken): Promise<boolean> {
    return deleteById(emailTokenCollection, token._id);
  }

  /** No token of this kind the account was sent works any more. */
  async revoke(kind: EmailTokenKind, userId: Types.ObjectId): Promise<void> {
    const revoked = await this.newest.update<Newest, string | null>(
      newestKey(kind, userId),
      (current) =>
        current?.hash
          ? { next: { hash: null, expiresAtMs: current.expiresAtMs }, result: current.hash }
          : { result: null },
    );
    if (revoked !== null) await deleteById(emailTokenCollection, revoked);
  }
}

function newestKey(kind: EmailTokenKind, userId: Types.ObjectId): string {
  return `email-token:${kind}:${userId.toHexString()}`;
}
