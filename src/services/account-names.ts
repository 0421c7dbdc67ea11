import { createHash } from "node:crypto";
import type { Types } from "mongoose";
import type { Clock } from "../clock";
import { collectionHeads, VersionedRecords } from "../db/versioned-records";
import { HEAD_COLLECTIONS } from "../entities/versioned-record.entity";
import { toObjectId, type UserStore } from "./user-store";

/**
 * Who owns each username and email address: a record keyed by the normalised name (its _id
 * in the `usernames` or `emails` collection) that names the account. Finding an account by name
 * is two primary-key lookups whatever the number of accounts, and a name changes hands only by
 * compare-and-set, so of two signups for one name exactly one gets it.
 *
 * A name is free when nobody owns it, or when its owner no longer exists (deleted, or a signup
 * that never finished): a claim is never deleted, only taken over. Taking over a name from an
 * unfinished signup first ends that signup's account by compare-and-set, so a signup that was
 * merely slow either finishes first (and keeps the name) or cannot finish at all.
 */

export type NameKind = "username" | "email";

/** The account being created. */
export interface SignupNames {
  readonly usernameKey: string;
  readonly email: string;
  /** Its id once inserted: only a newer signup replaces an unfinished one, never the reverse. */
  readonly userId?: Types.ObjectId;
}

interface NameOwner {
  /** Hex id of the owning account; null once released. */
  readonly userId: string | null;
  readonly atMs: number;
}

/** Longer than any signup takes (a bcrypt hash and a few writes, each limited to 3 s). */
export const ABANDONED_SIGNUP_MS = 5 * 60_000;

/**
 * The record key of a name. Email addresses are kept as their SHA-256: the records outlive the
 * account (a released name keeps its record, with no owner), and a deleted user's address must
 * not stay in the database in the clear.
 */
function recordKey(kind: NameKind, name: string): string {
  return kind === "email" ? createHash("sha256").update(name, "utf8").digest("hex") : name;
}

export class AccountNames {
  private readonly records: Record<NameKind, VersionedRecords>;

  constructor(
    private readonly clock: Clock,
    private readonly users: UserStore,
  ) {
    this.records = {
      username: new VersionedRecords(clock, collectionHeads(HEAD_COLLECTIONS.usernames)),
      email: new VersionedRecords(clock, collectionHeads(HEAD_COLLECTIONS.emails)),
    };
  }

  /** The account that owns the name, if any (it may be pending, disabled, or gone). */
  async ownerOf(kind: NameKind, name: string): Promise<Types.ObjectId | undefined> {
    const owner = await this.records[kind].read<NameOwner>(recordKey(kind, name));
    return owner?.userId ? toObjectId(owner.userId) : undefined;
  }

  /** True when a signup for `signup` could take the name now. Cheap: no writes. */
  async isAvailable(kind: NameKind, name: string, signup?: SignupNames): Promise<boolean> {
    const owner = await this.records[kind].read<NameOwner>(recordKey(kind, name));
    return this.isReleasable(owner, { endAbandoned: false, signup });
  }

  /**
   * Gives the name to `userId` unless a live account owns it. Idempotent for its own owner.
   * `signup` names the account being created: an unfinished signup with the same username and
   * email is the same person trying again (after a timeout, a crash, a double click), and
   * gives way at once instead of after ABANDONED_SIGNUP_MS.
   */
  async claim(
    kind: NameKind,
    name: string,
    userId: Types.ObjectId,
    signup: SignupNames,
  ): Promise<"claimed" | "taken"> {
    const me = userId.toHexString();
    const records = this.records[kind];
    const key = recordKey(kind, name);
    for (;;) {
      const seen = await records.read<NameOwner>(key);
      if (seen?.userId === me) return "claimed";
      if (!(await this.isReleasable(seen, { endAbandoned: true, signup }))) return "taken";
      const outcome = await records.update<NameOwner, "claimed" | "changed">(key, (current) =>
        sameOwner(current, seen)
          ? { next: { userId: me, atMs: this.clock.nowMs() }, result: "claimed" }
          : { result: "changed" },
      );
      if (outcome === "claimed") return "claimed";
      // Somebody else changed the owner since we looked: judge the new owner.
    }
  }

  /** Gives up a name this account owns (a signup undoing itself, a deleted account's purge). */
  async release(kind: NameKind, name: string, userId: Types.ObjectId): Promise<void> {
    const me = userId.toHexString();
    await this.records[kind].update<NameOwner, void>(recordKey(kind, name), (current) =>
      current?.userId === me
        ? { next: { userId: null, atMs: this.clock.nowMs() }, result: undefined }
        : { result: undefined },
    );
  }

  private async isReleasable(
    owner: NameOwner | undefined,
    options: { endAbandoned: boolean; signup: SignupNames | undefined },
  ): Promise<boolean> {
    if (!owner?.userId) return true;
    const ownerId = toObjectId(owner.userId);
    if (!ownerId) return true;
    const account = await this.users.readLatest(ownerId);
    if (!account) return true;
    if (account.status !== "pending") return false;
    const abandoned = this.clock.nowMs() - account.createdAt.getTime() > ABANDONED_SIGNUP_MS;
    const { signup } = options;
    const retried =
      signup !== undefined &&
      account.usernameKey === signup.usernameKey &&
      account.email === signup.email &&
      (signup.userId === undefined || isOlder(account._id, signup.userId));
    if (!abandoned && !retried) return false;
    if (!options.endAbandoned) return true;
    // Ends the unfinished signup's account unless it became active meanwhile.
    return this.users.update(ownerId, (current) =>
      current?.status === "pending"
        ? { next: "deleted", result: true }
        : { result: current === undefined },
    );
  }
}

/** ObjectIds start with their creation second; the rest orders ids made in the same second. */
function isOlder(a: Types.ObjectId, b: Types.ObjectId): boolean {
  return a.toHexString() < b.toHexString();
}

function sameOwner(a: NameOwner | undefined, b: NameOwner | undefined): boolean {
  return (a?.userId ?? null) === (b?.userId ?? null) && (a?.atMs ?? 0) === (b?.atMs ?? 0);
}
