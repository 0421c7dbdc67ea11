import { setTimeout as sleep } from "node:timers/promises";
import type { Collection } from "mongodb";
import mongoose from "mongoose";
import type { Clock } from "../clock";
import { insertOnce } from "./atomic-writes";
import { isDatabaseUnavailableError } from "./mongo-errors";

/**
 * Read-modify-write of one small record that stays correct when many requests (on many
 * instances) change it at once — who owns a username, a throttle counter, a user's list of
 * sessions, the set of administrators — on a database without atomic updates (FerretDB 1.24
 * loses concurrent updates of a document; see atomic-writes.ts) and without transactions.
 *
 * Every state of a record is an immutable version, inserted under the unique _id
 * "<namespace>:<key>#<n>" in `record_versions`. Inserting version n+1 is the compare-and-set:
 * of the writers that read version n, the database lets exactly one insert n+1; the others
 * read again and retry. A head document caches the latest version, so a read is two _id
 * lookups: the head, and a probe that version n+1 does not exist yet; a write is three (the
 * head, the insert, the new head), since its insert is the probe. A head that lags (its
 * writer crashed between the two writes, or an older head write landed late) costs extra
 * probes, or a failed insert and a round, only; the reader that notices brings it up to date.
 * Versions are never rewritten; old ones are deleted by the retention sweep once the head has
 * moved past them.
 */

export type Change<S, R> = { readonly next: S; readonly result: R } | { readonly result: R };

interface Waiter {
  readonly change: (current: unknown) => Change<unknown, unknown>;
  readonly resolve: (result: unknown) => void;
  readonly reject: (error: unknown) => void;
}

type Outcome = { readonly result: unknown } | { readonly error: unknown };

/** One batch as one change: each waiter's change applied to the state the previous one left. */
function applyAll(batch: readonly Waiter[], initial: unknown): Change<unknown, Outcome[]> {
  let state = initial;
  let changed = false;
  const outcomes: Outcome[] = [];
  for (const waiter of batch) {
    try {
      const outcome = waiter.change(state);
      if ("next" in outcome) {
        state = outcome.next;
        changed = true;
      }
      outcomes.push({ result: outcome.result });
    } catch (error) {
      outcomes.push({ error });
    }
  }
  return changed ? { next: state, result: outcomes } : { result: outcomes };
}

/** Too many writers at once on one record: the caller decides (usually refuse; retry later). */
export class RecordContentionError extends Error {
  constructor(readonly key: string) {
    super(`too many concurrent writers on record ${key}`);
    this.name = "RecordContentionError";
  }
}

/** Where the cached latest version of each record lives. */
export interface HeadStore {
  /** Prefix of the version _ids, unique per store. */
  readonly namespace: string;
  read(key: string): Promise<{ readonly v: number; readonly state: unknown } | undefined>;
  write(key: string, v: number, state: unknown, at: Date): Promise<void>;
  remove(key: string): Promise<void>;
}

/** States that say when the whole record may be forgotten by the sweep. */
export interface ExpiringState {
  /** ms since the epoch */
  readonly expiresAtMs: number;
}

export interface HeadDoc {
  _id: string;
  v: number;
  s: unknown;
  at: Date;
  /** When the state stops mattering (ExpiringState), or a date far ahead. */
  exp: Date;
}

export interface VersionDoc {
  _id: string;
  /** "<namespace>:<key>" */
  k: string;
  v: number;
  s: unknown;
  at: Date;
}

export const RECORD_VERSIONS = "record_versions";
const NEVER = new Date(8_640_000_000_000_000);

/** Heads as `{ _id: key, v, s: state, at, exp }` documents in `collectionName`. */
export function collectionHeads(collectionName: string): HeadStore {
  const heads = (): Collection<HeadDoc> => mongoose.connection.collection<HeadDoc>(collectionName);
  return {
    namespace: collectionName,
    async read(key) {
      const head = await heads().findOne({ _id: key });
      return head ? { v: head.v, state: head.s } : undefined;
    },
    async write(key, v, state, at) {
      const expiresAtMs = (state as Partial<ExpiringState> | null)?.expiresAtMs;
      const exp = typeof expiresAtMs === "number" ? new Date(expiresAtMs) : NEVER;
      await heads().replaceOne({ _id: key }, { v, s: state, at, exp }, { upsert: true });
    },
    async remove(key) {
      await heads().deleteOne({ _id: key });
    },
  };
}

/** Writers that lose a round read again; past this many rounds the caller gets contention. */
const MAX_ROUNDS = 12;
/** Bounds a read's probing; a head this far behind is rewritten by the reader. */
const MAX_PROBES = 1_000;

export class VersionedRecords {
  /**
   * Changes of one key waiting in this process. They are applied together, in arrival order,
   * as one compare-and-set (group commit): twenty signins at once from one address cost one
   * or two rounds instead of twenty contending ones. Compare-and-set is then only ever
   * contended across instances.
   */
  private readonly queues = new Map<string, Waiter[]>();

  constructor(
    private readonly clock: Clock,
    private readonly heads: HeadStore,
  ) {}

  /** The head store's namespace: for heads in a collection, its name. */
  get namespace(): string {
    return this.heads.namespace;
  }

  private versions(): Collection<VersionDoc> {
    return mongoose.connection.collection<VersionDoc>(RECORD_VERSIONS);
  }

  private versionId(key: string, v: number): string {
    return `${this.heads.namespace}:${key}#${v}`;
  }

  /** The record's current state, or undefined when it has none. */
  async read<S>(key: string): Promise<S | undefined> {
    return (await this.latest<S>(key)).state;
  }

  /**
   * Applies `change` to the current state and stores the result, as if nobody else wrote in
   * between: when somebody did, `change` runs again on their state. `change` must be a pure
   * function of the state (it may run several times). Returning no `next` writes nothing.
   */
  async update<S, R>(key: string, change: (current: S | undefined) => Change<S, R>): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      const waiter: Waiter = {
        change: change as Waiter["change"],
        resolve: resolve as Waiter["resolve"],
        reject,
      };
      const queue = this.queues.get(key);
      if (queue) {
        queue.push(waiter);
        return;
      }
      this.queues.set(key, [waiter]);
      void this.drain(key);
    });
  }

  /** Commits the key's waiting changes, batch after batch, until none is left. */
  private async drain(key: string): Promise<void> {
    for (;;) {
      const queue = this.queues.get(key);
      const batch = queue?.splice(0) ?? [];
      if (batch.length === 0) {
        this.queues.delete(key);
        return;
      }
      try {
        const outcomes = await this.compareAndSet(key, (state: unknown) => applyAll(batch, state));
        batch.forEach((waiter, i) => {
          const outcome = outcomes[i]!;
          if ("error" in outcome) waiter.reject(outcome.error);
          else waiter.resolve(outcome.result);
        });
      } catch (error) {
        for (const waiter of batch) waiter.reject(error);
        // The database is away: whoever queued meanwhile would only wait a whole timeout more.
        if (isDatabaseUnavailableError(error)) {
          for (const waiter of queue?.splice(0) ?? []) waiter.reject(error);
        }
      }
    }
  }

  private async compareAndSet<S, R>(
    key: string,
    change: (current: S | undefined) => Change<S, R>,
  ): Promise<R> {
    for (let round = 0; round < MAX_ROUNDS; round++) {
      // The first round trusts the head without probing past it: the insert of the next version
      // is the check. A lagging head only makes that insert fail, and the next round probes.
      const { version, state } =
        round === 0 ? await this.cached<S>(key) : await this.latest<S>(key);
      const outcome = change(state);
      if (!("next" in outcome)) return outcome.result;
      const at = new Date(this.clock.nowMs());
      const next = version + 1;
      const won = await insertOnce(this.versions(), {
        _id: this.versionId(key, next),
        k: `${this.heads.namespace}:${key}`,
        v: next,
        s: outcome.next,
        at,
      });
      if (won) {
        await this.writeHead(key, next, outcome.next, at);
        return outcome.result;
      }
      // Lost the round: spread the retries so the same writers do not collide again.
      await sleep(Math.random() * 4 * (round + 1));
    }
    throw new RecordContentionError(key);
  }

  /**
   * Forgets a record: its head, then its versions from the newest down. Only for records that
   * no request changes any more (expired, or whose owner is gone).
   */
  async remove(key: string): Promise<void> {
    const { version } = await this.latest(key);
    await this.heads.remove(key);
    for (let v = version; v >= 1; v--) {
      const { deletedCount } = await this.versions().deleteOne({ _id: this.versionId(key, v) });
      // Older versions are gone already (the sweep took them).
      if (deletedCount === 0 && v < version) break;
    }
  }

  /** The version the head names: the newest, unless the head lags. */
  private async cached<S>(key: string): Promise<{ version: number; state: S | undefined }> {
    const head = await this.heads.read(key);
    return { version: head?.v ?? 0, state: head?.state as S | undefined };
  }

  /** The newest version, bringing a lagging head up to date on the way. */
  async latest<S>(key: string): Promise<{ version: number; state: S | undefined }> {
    const head = await this.heads.read(key);
    let version = head?.v ?? 0;
    let state = head?.state as S | undefined;
    let probes = 0;
    for (; probes < MAX_PROBES; probes++) {
      const newer = await this.versions().findOne({ _id: this.versionId(key, version + 1) });
      if (!newer) break;
      version = newer.v;
      state = newer.s as S;
    }
    if (probes > 0) await this.writeHead(key, version, state, new Date(this.clock.nowMs()));
    return { version, state };
  }

  private async writeHead(key: string, v: number, state: unknown, at: Date): Promise<void> {
    try {
      await this.heads.write(key, v, state, at);
    } catch {
      // Only a cache: a later reader probes past it. (Two first writers can race on the upsert.)
    }
  }
}
