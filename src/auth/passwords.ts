import { availableParallelism } from "node:os";
import bcrypt from "bcryptjs";
import { WorkerPool } from "./password-pool";

/** bcrypt reads at most 72 bytes; longer passwords are refused rather than silently cut. */
export const MAX_PASSWORD_BYTES = 72;

export interface PasswordHasher {
  hash(password: string): Promise<string>;
  compare(password: string, hash: string): Promise<boolean>;
  /**
   * Runs a comparison against a throwaway hash of the same cost, so a signin for an unknown
   * user takes as long as one with a wrong password and the timing tells nothing.
   */
  compareWithDummy(password: string): Promise<false>;
  /** Stops the hashing threads; calls made afterwards fail. */
  close(): Promise<void>;
  /** Calls waiting for a hashing thread right now (not counting the ones being hashed). */
  readonly waiting: number;
  /** Tells `listener` how long each finished call waited for a thread and then took. */
  observe(listener: (sample: HashingSample) => void): void;
}

/** One finished hash or compare, in seconds: the queue, then the work itself. */
export interface HashingSample {
  readonly op: "hash" | "compare";
  readonly waitSeconds: number;
  readonly workSeconds: number;
}

export interface PasswordHasherOptions {
  /**
   * Worker threads that run bcrypt. One hash at cost 12 is most of a second of CPU: on the
   * main thread it would stall every other request for that long. 0 hashes on the main thread
   * (bcryptjs's async API, which yields only between chunks of about 100 ms).
   * Default: os.availableParallelism().
   */
  workers?: number;
  /**
   * Nice value of the hashing threads on Linux (see HASHING_THREAD_NICENESS). Tests that
   * measure where hashing CPU goes pass 0, so a machine busy with other work cannot starve them.
   */
  niceness?: number;
}

type BcryptTask =
  | { op: "hash"; password: string; rounds: number }
  | { op: "compare"; password: string; hash: string };

/**
 * On Linux a thread has its own nice value, so the hashing threads step back and a request
 * that wakes the main thread gets a core at once even while every core is hashing: signins
 * queue a little longer instead of every other request waiting. (Elsewhere the same call
 * would renice the whole process, so it is skipped.)
 */
const HASHING_THREAD_NICENESS = 10;

/**
 * Synchronous bcryptjs is right inside a worker: the thread has nothing else to do, and the
 * async API would only add its chunking overhead.
 */
const BCRYPT_WORKER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
const bcrypt = require(workerData.bcryptjs);
if (workerData.niceness > 0) {
  try {
    require("node:os").setPriority(workerData.niceness);
  } catch {
    // Not allowed here (some sandboxes): hashing still works, just at normal priority.
  }
}
parentPort.on("message", (task) => {
  try {
    const value =
      task.op === "hash"
        ? bcrypt.hashSync(task.password, task.rounds)
        : bcrypt.compareSync(task.password, task.hash);
    parentPort.postMessage({ ok: true, value });
  } catch (error) {
    parentPort.postMessage({ ok: false, error: error instanceof Error ? error.message : String(error) });
  }
});
`;

interface Bcrypt {
  run<T>(task: BcryptTask, onStart: () => void): Promise<T>;
  readonly waiting: number;
  close(): Promise<void>;
}

function workerBcrypt(workers: number, niceness: number): Bcrypt {
  const pool = new WorkerPool({
    size: workers,
    source: BCRYPT_WORKER_SOURCE,
    // Resolved here, where node_modules is known, so the worker needs no module resolution of
    // its own (an eval'd worker resolves relative to the process's cwd).
    workerData: {
      bcryptjs: require.resolve("bcryptjs"),
      niceness: process.platform === "linux" ? niceness : 0,
    },
  });
  return {
    run: <T>(task: BcryptTask, onStart: () => void) => pool.run<T>(task, onStart),
    get waiting() {
      return pool.waiting;
    },
    close: () => pool.close(),
  };
}

const mainThreadBcrypt: Bcrypt = {
  run<T>(task: BcryptTask, onStart: () => void): Promise<T> {
    onStart();
    return (
      task.op === "hash"
        ? bcrypt.hash(task.password, task.rounds)
        : bcrypt.compare(task.password, task.hash)
    ) as Promise<T>;
  },
  waiting: 0,
  close: async () => undefined,
};

export function createPasswordHasher(
  rounds: number,
  options: PasswordHasherOptions = {},
): PasswordHasher {
  const workers = options.workers ?? availableParallelism();
  if (!Number.isInteger(workers) || workers < 0) {
    throw new RangeError(`password workers must be a whole number ≥ 0, got ${workers}`);
  }
  const engine =
    workers > 0
      ? workerBcrypt(workers, options.niceness ?? HASHING_THREAD_NICENESS)
      : mainThreadBcrypt;
  const listeners: ((sample: HashingSample) => void)[] = [];

  /** Runs one task, timing its wait and its work for the listeners (the metrics). */
  const run = async <T>(task: BcryptTask): Promise<T> => {
    const queued = performance.now();
    let started = queued;
    const value = await engine.run<T>(task, () => (started = performance.now()));
    if (listeners.length > 0) {
      const sample: HashingSample = {
        op: task.op,
        waitSeconds: (started - queued) / 1000,
        workSeconds: (performance.now() - started) / 1000,
      };
      for (const listener of listeners) listener(sample);
    }
    return value;
  };

  // Made once, up front and in the background, so even the first unknown-user signin costs
  // exactly one comparison.
  const dummyHash = run<string>({ op: "hash", password: "not-a-real-password", rounds });
  dummyHash.catch(() => undefined);

  const hasher: PasswordHasher = {
    hash: (password) => run<string>({ op: "hash", password, rounds }),
    compare: (password, hash) => run<boolean>({ op: "compare", password, hash }),
    async compareWithDummy(password) {
      // Through hasher.compare, the very call a wrong password makes: one path to watch.
      await hasher.compare(password, await dummyHash);
      return false;
    },
    close: () => engine.close(),
    get waiting() {
      return engine.waiting;
    },
    observe: (listener) => void listeners.push(listener),
  };
  return hasher;
}
