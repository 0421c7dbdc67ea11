import { randomUUID } from "node:crypto";
import type { Clock } from "../clock";
import { collectionHeads, VersionedRecords } from "../db/versioned-records";
import { HEAD_COLLECTIONS } from "../entities/versioned-record.entity";

interface Lease {
  readonly holder: string;
  readonly expiresAtMs: number;
}

/**
 * Who runs a piece of background work right now, across every instance on one database: a
 * compare-and-set record per task ("lease:<name>") naming the holder until a deadline. The
 * holder renews it while it works; when an instance dies, its lease runs out and another takes
 * over. Background work is written so that running a batch twice does no harm (deletes by _id,
 * claims by unique insert): the lease keeps the work from being done N times over, correctness
 * does not depend on it.
 */
export class Leases {
  private readonly records: VersionedRecords;
  /** This process, as lease holders are named. */
  readonly holder = `${process.pid}-${randomUUID()}`;

  constructor(private readonly clock: Clock) {
    this.records = new VersionedRecords(clock, collectionHeads(HEAD_COLLECTIONS.records));
  }

  /** Takes (or renews) the lease for `ttlMs`; false when another holder has it. */
  async acquire(name: string, ttlMs: number): Promise<boolean> {
    const now = this.clock.nowMs();
    return this.records.update<Lease, boolean>(`lease:${name}`, (lease) => {
      if (lease && lease.holder !== this.holder && lease.expiresAtMs > now)
        return { result: false };
      return { next: { holder: this.holder, expiresAtMs: now + ttlMs }, result: true };
    });
  }

  /** Gives the lease back early (shutdown), so another instance need not wait it out. */
  async release(name: string): Promise<void> {
    await this.records.update<Lease, void>(`lease:${name}`, (lease) =>
      lease?.holder === this.holder
        ? { next: { holder: "", expiresAtMs: 0 }, result: undefined }
        : { result: undefined },
    );
  }
}
