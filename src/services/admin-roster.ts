import type { Types } from "mongoose";
import type { Clock } from "../clock";
import { collectionHeads, VersionedRecords } from "../db/versioned-records";
import { HEAD_COLLECTIONS } from "../entities/versioned-record.entity";
import { Role } from "../entities/role";
import { userCollection } from "../entities/user.entity";
import { InputError } from "../errors";

interface Roster {
  /** Hex ids of the enabled accounts with the ADMIN role. */
  readonly admins: readonly string[];
}

const ROSTER_KEY = "admins";

/**
 * Which enabled accounts hold ADMIN, as one compare-and-set record, so "never zero admins"
 * holds when two admins demote, disable or delete each other at the same moment: each removal
 * is a compare-and-set that refuses to leave the roster empty, and the database applies them
 * one after the other.
 *
 * The roster is kept a subset of the real admins: an account leaves it *before* it loses ADMIN
 * (or is disabled or deleted) and joins it *after* it gains ADMIN. A crash between the two
 * writes leaves an admin missing from the roster, which only makes the rule stricter; `repair`
 * (run at start and by the sweep) adds them back.
 */
export class AdminRoster {
  private readonly records: VersionedRecords;

  constructor(clock: Clock) {
    this.records = new VersionedRecords(clock, collectionHeads(HEAD_COLLECTIONS.records));
  }

  /** Takes `userId` out of the roster unless it is the last one there: LAST_ADMIN. */
  async remove(userId: Types.ObjectId, field: string): Promise<void> {
    const id = userId.toHexString();
    const outcome = await this.records.update<Roster, "ok" | "last">(ROSTER_KEY, (roster) => {
      const admins = roster?.admins ?? [];
      if (!admins.includes(id)) return { result: "ok" };
      const rest = admins.filter((a) => a !== id);
      return rest.length === 0 ? { result: "last" } : { next: { admins: rest }, result: "ok" };
    });
    if (outcome === "last") {
      throw new InputError(
        field,
        "This is the last administrator: make another account an administrator first.",
        "LAST_ADMIN",
      );
    }
  }

  async add(userId: Types.ObjectId): Promise<void> {
    const id = userId.toHexString();
    await this.records.update<Roster, void>(ROSTER_KEY, (roster) => {
      const admins = roster?.admins ?? [];
      return admins.includes(id)
        ? { result: undefined }
        : { next: { admins: [...admins, id] }, result: undefined };
    });
  }

  async count(): Promise<number> {
    return (await this.records.read<Roster>(ROSTER_KEY))?.admins.length ?? 0;
  }

  /**
   * Builds the roster from the accounts when there is none yet (a new database, or one from
   * before the roster existed). Scans users: start-up only. An admin missing from an existing
   * roster (a crash between granting ADMIN and adding it) only makes the rule stricter, so an
   * existing roster is never rebuilt from a scan, which could be older than a removal.
   */
  async ensureBuilt(): Promise<void> {
    if ((await this.records.read<Roster>(ROSTER_KEY)) !== undefined) return;
    const admins = await userCollection
      .find({ roles: Role.ADMIN, status: "active", disabledAt: null }, { projection: { _id: 1 } })
      .toArray();
    const ids = admins.map((doc) => String(doc._id));
    await this.records.update<Roster, void>(ROSTER_KEY, (roster) =>
      roster === undefined ? { next: { admins: ids }, result: undefined } : { result: undefined },
    );
  }
}
