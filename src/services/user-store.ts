import { Types } from "mongoose";
import type { Clock } from "../clock";
import { insertOnce } from "../db/atomic-writes";
import { VersionedRecords, type Change, type HeadStore } from "../db/versioned-records";
import { userCollection, type UserRecord } from "../entities/user.entity";

/** A user document as stored (with the password hash), without the version counter. */
export type UserState = UserRecord & { passwordHash: string };

/** The account as the rest of the server sees it: never the hash. */
export function withoutPasswordHash(user: UserState): UserRecord {
  const { passwordHash, ...rest } = user;
  void passwordHash;
  return rest;
}

/** What a change writes instead of a state when the account is deleted. */
const DELETED = Object.freeze({ deleted: true as const });
type StoredState = UserState | typeof DELETED;

/** The users collection as the head store of VersionedRecords: the document is the head. */
const usersAsHeads: HeadStore = {
  namespace: "users",
  async read(key) {
    const doc = await userCollection.findOne({ _id: new Types.ObjectId(key) });
    if (!doc) return undefined;
    const { v, ...state } = doc as unknown as UserState & { v: number };
    return { v, state };
  },
  async write(key, v, state) {
    const _id = new Types.ObjectId(key);
    if ((state as StoredState | undefined) === undefined || "deleted" in (state as StoredState)) {
      await userCollection.deleteOne({ _id });
      return;
    }
    // No upsert: a late write for an account deleted meanwhile must not bring it back.
    await userCollection.replaceOne({ _id }, { ...(state as UserState), v });
  },
  async remove(key) {
    await userCollection.deleteOne({ _id: new Types.ObjectId(key) });
  },
};

export function toObjectId(id: string | Types.ObjectId): Types.ObjectId | undefined {
  if (id instanceof Types.ObjectId) return id;
  // Exactly 24 hex digits: ObjectId also accepts any 12-character string as raw bytes.
  return /^[0-9a-f]{24}$/i.test(id) ? new Types.ObjectId(id.toLowerCase()) : undefined;
}

/**
 * Accounts by _id. Reads are one primary-key lookup; every change after the insert is a
 * compare-and-set (VersionedRecords with the users document as the head), so two changes at
 * once — an admin disabling the account while its owner changes the password — both land.
 */
export class UserStore {
  private readonly records: VersionedRecords;

  constructor(clock: Clock) {
    this.records = new VersionedRecords(clock, usersAsHeads);
  }

  /** The account, or null: one primary-key lookup, never the password hash. */
  async findById(id: string | Types.ObjectId): Promise<UserRecord | null> {
    const _id = toObjectId(id);
    if (!_id) return null;
    return (await userCollection.findOne(
      { _id },
      { projection: { passwordHash: 0, v: 0 } },
    )) as UserRecord | null;
  }

  /** Inserts a new account (pending until it owns its names); false if the id is taken. */
  async insert(user: UserState): Promise<boolean> {
    return insertOnce(userCollection, { ...user, v: 0 });
  }

  /**
   * Changes the account as if nobody else did meanwhile. `change` gets the current state
   * (undefined once the account is deleted or never existed) and returns `next` (a state, or
   * "deleted") or only a result to leave it as it is.
   */
  async update<R>(
    id: Types.ObjectId,
    change: (current: UserState | undefined) => Change<UserState | "deleted", R>,
  ): Promise<R> {
    return this.records.update<StoredState, R>(id.toHexString(), (stored) => {
      const current = stored === undefined || "deleted" in stored ? undefined : stored;
      const outcome = change(current);
      if (!("next" in outcome)) return outcome;
      return {
        next: outcome.next === "deleted" ? DELETED : outcome.next,
        result: outcome.result,
      };
    });
  }

  /** The latest state, past a head that may lag after a crash: for decisions, not lookups. */
  async readLatest(id: Types.ObjectId): Promise<UserState | undefined> {
    const stored = await this.records.read<StoredState>(id.toHexString());
    return stored === undefined || "deleted" in stored ? undefined : stored;
  }
}
