import { setTimeout as sleep } from "node:timers/promises";
import type { Collection, Document, Filter } from "mongodb";
import mongoose from "mongoose";
import type { BackgroundJob } from "../background/background-jobs";
import type { Clock } from "../clock";
import {
  collectionHeads,
  RECORD_VERSIONS,
  VersionedRecords,
  type HeadDoc,
  type VersionDoc,
} from "../db/versioned-records";
import {
  refreshRotationCollection,
  refreshTokenCollection,
} from "../entities/refresh-token.entity";
import { sessionActivityCollection, sessionCollection } from "../entities/session.entity";
import { userCollection } from "../entities/user.entity";
import { HEAD_COLLECTIONS } from "../entities/versioned-record.entity";
import { ABANDONED_SIGNUP_MS } from "./account-names";
import type { UserStore } from "./user-store";

const DAY_MS = 86_400_000;
/** Documents looked at per step and run: a run never holds the database for long. */
export const SWEEP_BATCH = 200;
/** Deletes in flight at once within a batch. */
const CONCURRENCY = 8;
/** Breath between steps, so requests get the database in between. */
const PAUSE_MS = 20;
/** A superseded version is kept this long: a reader on a lagging head may still probe it. */
const VERSION_GRACE_MS = DAY_MS;

/** Extra collections other features ask the sweep to keep short (sent mail, email tokens). */
export interface SweepStep {
  readonly name: string;
  /** Deletes up to `batch` documents past retention; returns how many it deleted. */
  run(now: number, retentionMs: number, batch: number): Promise<number>;
}

/**
 * The database stops growing forever: refresh tokens, rotations and sessions that expired or
 * ended more than RETENTION_DAYS ago, throttle records and leases past their relevance,
 * superseded record versions, and accounts whose signup never finished. Until then spent tokens
 * stay, so a replay within retention is still recognised as reuse.
 *
 * Runs as a background job under a lease, in batches of SWEEP_BATCH with pauses between steps.
 * Every query here is a scan on FerretDB's SQLite backend (filters on anything but _id are not
 * pushed down); oldest documents come first in its natural order, so a batch finds its work
 * early. Deletes are by _id, one document each, so a run cut short loses nothing.
 */
export class RetentionSweep implements BackgroundJob {
  readonly name = "retention-sweep";
  readonly everyMs = 10 * 60_000;
  private readonly expiringRecords: VersionedRecords[];

  constructor(
    private readonly clock: Clock,
    private readonly retentionDays: number,
    private readonly users: UserStore,
    private readonly extraSteps: readonly SweepStep[] = [],
  ) {
    this.expiringRecords = [
      HEAD_COLLECTIONS.signinThrottle,
      HEAD_COLLECTIONS.userSessions,
      HEAD_COLLECTIONS.records,
    ].map((name) => new VersionedRecords(clock, collectionHeads(name)));
  }

  async run(signal: AbortSignal): Promise<{ more: boolean }> {
    const now = this.clock.nowMs();
    const retentionMs = this.retentionDays * DAY_MS;
    const cutoff = new Date(now - retentionMs);
    const steps: (() => Promise<number>)[] = [
      () => this.deleteMatching(refreshTokenCollection, { expiresAt: { $lt: cutoff } }),
      () => this.deleteMatching(refreshRotationCollection, { expiresAt: { $lt: cutoff } }),
      () => this.endedSessions(cutoff),
      () => this.expiredRecords(now),
      () => this.supersededVersions(now, retentionMs),
      () => this.abandonedSignups(now),
      ...this.extraSteps.map((step) => () => step.run(now, retentionMs, SWEEP_BATCH)),
    ];
    let more = false;
    for (const step of steps) {
      if (signal.aborted) return { more: false };
      if ((await step()) >= SWEEP_BATCH) more = true;
      await sleep(PAUSE_MS);
    }
    return { more };
  }

  /** Ids of up to SWEEP_BATCH documents matching `filter`, then each deleted by _id. */
  private async deleteMatching<T extends Document>(
    collection: Collection<T>,
    filter: Filter<T>,
    alsoDelete?: (ids: unknown[]) => Promise<void>,
  ): Promise<number> {
    const found = await collection
      .find(filter, { projection: { _id: 1 } })
      .limit(SWEEP_BATCH)
      .toArray();
    const ids = found.map((doc) => doc._id as unknown);
    await inBatches(ids, (id) => collection.deleteOne({ _id: id } as Filter<T>));
    if (alsoDelete) await alsoDelete(ids);
    return ids.length;
  }

  private endedSessions(cutoff: Date): Promise<number> {
    return this.deleteMatching(
      sessionCollection,
      { $or: [{ expiresAt: { $lt: cutoff } }, { revokedAt: { $lt: cutoff } }] },
      (ids) => inBatches(ids, (id) => sessionActivityCollection.deleteOne({ _id: id as never })),
    );
  }

  /** Throttle records, session lists and leases whose state stopped mattering. */
  private async expiredRecords(now: number): Promise<number> {
    let removed = 0;
    for (const records of this.expiringRecords) {
      const heads = mongoose.connection.collection<HeadDoc>(records.namespace);
      const expired = await heads
        .find({ exp: { $lt: new Date(now) } }, { projection: { _id: 1 } })
        .limit(SWEEP_BATCH)
        .toArray();
      await inBatches(expired, (head) => records.remove(head._id));
      removed += expired.length;
    }
    return removed;
  }

  /**
   * Versions a head has moved past, a day after they were written. Versions with no head at
   * all belong to records that were removed, and go after the retention period.
   */
  private async supersededVersions(now: number, retentionMs: number): Promise<number> {
    const versions = mongoose.connection.collection<VersionDoc>(RECORD_VERSIONS);
    const old = await versions
      .find({ at: { $lt: new Date(now - VERSION_GRACE_MS) } })
      .project<Pick<VersionDoc, "_id" | "k" | "v" | "at">>({ _id: 1, k: 1, v: 1, at: 1 })
      .limit(SWEEP_BATCH)
      .toArray();
    let deleted = 0;
    await inBatches(old, async (version) => {
      const headVersion = await this.headVersionOf(version.k);
      const superseded = headVersion !== undefined && headVersion > version.v;
      const orphaned = headVersion === undefined && version.at.getTime() < now - retentionMs;
      if (!superseded && !orphaned) return;
      await versions.deleteOne({ _id: version._id });
      deleted += 1;
    });
    return old.length > deleted ? deleted : old.length;
  }

  private async headVersionOf(namespacedKey: string): Promise<number | undefined> {
    const separator = namespacedKey.indexOf(":");
    const namespace = namespacedKey.slice(0, separator);
    const key = namespacedKey.slice(separator + 1);
    if (namespace === "users") {
      const id = /^[0-9a-f]{24}$/.test(key) ? new mongoose.Types.ObjectId(key) : undefined;
      const user = id ? await userCollection.findOne({ _id: id }, { projection: { v: 1 } }) : null;
      return user ? user.v : undefined;
    }
    const head = await mongoose.connection
      .collection<HeadDoc>(namespace)
      .findOne({ _id: key }, { projection: { v: 1 } });
    return head?.v;
  }

  /** Accounts left pending by a signup that crashed: their names become free again. */
  private async abandonedSignups(now: number): Promise<number> {
    const pending = await userCollection
      .find(
        { status: "pending", createdAt: { $lt: new Date(now - ABANDONED_SIGNUP_MS) } },
        { projection: { _id: 1 } },
      )
      .limit(SWEEP_BATCH)
      .toArray();
    await inBatches(pending, (user) =>
      this.users.update(user._id, (current) =>
        current?.status === "pending"
          ? { next: "deleted" as const, result: undefined }
          : { result: undefined },
      ),
    );
    return pending.length;
  }
}

async function inBatches<T>(
  items: readonly T[],
  work: (item: T) => Promise<unknown>,
): Promise<void> {
  for (let i = 0; i < items.length; i += CONCURRENCY) {
    await Promise.all(items.slice(i, i + CONCURRENCY).map(work));
  }
}
