import { readFileSync, readdirSync } from "node:fs";
import bcrypt from "bcryptjs";
import { WorkerPool } from "../src/auth/password-pool";
import { createPasswordHasher, type PasswordHasher } from "../src/auth/passwords";

/**
 * Runs `work` while a 5 ms interval ticks and returns the longest gap between ticks: how long
 * the event loop was unable to answer anything else.
 */
async function longestStall(work: () => Promise<unknown>): Promise<number> {
  let last = performance.now();
  let longest = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    longest = Math.max(longest, now - last);
    last = now;
  }, 5);
  try {
    await work();
  } finally {
    clearInterval(timer);
  }
  return longest;
}

describe("password hashing", () => {
  const hashers: PasswordHasher[] = [];
  const hasher = (rounds: number, workers?: number) => {
    const created = createPasswordHasher(rounds, workers === undefined ? {} : { workers });
    hashers.push(created);
    return created;
  };
  afterAll(() => Promise.all(hashers.map((h) => h.close())));

  it("checks a password against its hash in a worker: right is true, wrong is false", async () => {
    const passwords = hasher(4, 2);
    const hash = await passwords.hash("correct horse");
    expect(await passwords.compare("correct horse", hash)).toBe(true);
    expect(await passwords.compare("wrong horse", hash)).toBe(false);
    expect(await passwords.compareWithDummy("correct horse")).toBe(false);
  });

  it("makes hashes bcryptjs on the main thread accepts, and accepts bcryptjs's", async () => {
    const passwords = hasher(5, 2);
    const fromWorker = await passwords.hash("s3cret-pass");
    expect(fromWorker).toMatch(/^\$2b\$05\$/);
    expect(bcrypt.compareSync("s3cret-pass", fromWorker)).toBe(true);
    expect(bcrypt.compareSync("other-pass", fromWorker)).toBe(false);

    const fromMain = bcrypt.hashSync("s3cret-pass", 5);
    expect(await passwords.compare("s3cret-pass", fromMain)).toBe(true);
    expect(await passwords.compare("other-pass", fromMain)).toBe(false);
  });

  it("keeps the event loop answering while four cost-12 hashes run in workers", async () => {
    const passwords = hasher(12, 2);
    // Starting a thread is a one-off cost; keep it out of the measurement.
    await Promise.all([passwords.hash("warm up 1"), passwords.hash("warm up 2")]);

    // On a shared machine another process can take the CPU for a moment; hashing on the main
    // thread would instead stall every attempt (bcryptjs yields only every ~100 ms). So the
    // best of up to three attempts is what counts.
    const stalls: number[] = [];
    for (let attempt = 0; attempt < 3 && !stalls.some((stall) => stall < 50); attempt++) {
      let hashes: string[] = [];
      stalls.push(
        await longestStall(async () => {
          hashes = await Promise.all([1, 2, 3, 4].map((n) => passwords.hash(`password ${n}`)));
        }),
      );
      expect(new Set(hashes).size).toBe(4);
    }
    expect(Math.min(...stalls)).toBeLessThan(50);
  });

  it("stalls the event loop for the same work on the main thread (what the workers prevent)", async () => {
    const passwords = hasher(12, 0);
    const stall = await longestStall(() => passwords.hash("on the main thread"));
    // bcryptjs yields only between slices of about 100 ms of hashing.
    expect(stall).toBeGreaterThan(50);
  });

  (process.platform === "linux" ? it : it.skip)(
    "runs hashing threads at a lower priority than the main thread (Linux)",
    async () => {
      const passwords = hasher(4, 1);
      await passwords.hash("start the thread");
      const niceOf = (task: string) => {
        const stat = readFileSync(`/proc/self/task/${task}/stat`, "utf8");
        // Fields after the parenthesised command name; nice is the 19th field of the line.
        return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[16]);
      };
      const nices = readdirSync("/proc/self/task").map(niceOf);
      expect(niceOf(String(process.pid))).toBe(0);
      expect(nices.some((nice) => nice > 0)).toBe(true);
    },
  );

  it("fails calls made after close", async () => {
    const passwords = createPasswordHasher(4, { workers: 1 });
    await passwords.close();
    await expect(passwords.hash("too late")).rejects.toThrow(/closed/);
  });
});

describe("worker pool", () => {
  // Echoes numbers, throws outside its handler on "throw", and exits on "exit".
  const source = `
    const { parentPort } = require("node:worker_threads");
    parentPort.on("message", (message) => {
      if (message === "exit") process.exit(3);
      if (message === "throw") setImmediate(() => { throw new Error("worker blew up"); });
      else if (message === "refuse") parentPort.postMessage({ ok: false, error: "refused" });
      else setTimeout(() => parentPort.postMessage({ ok: true, value: message }), 20);
    });
  `;
  const pools: WorkerPool[] = [];
  const pool = (size: number) => {
    const created = new WorkerPool({ size, source });
    pools.push(created);
    return created;
  };
  afterAll(() => Promise.all(pools.map((p) => p.close())));

  it("queues calls beyond its size and answers each one", async () => {
    const single = pool(1);
    const answers = await Promise.all([1, 2, 3, 4].map((n) => single.run<number>(n)));
    expect(answers).toEqual([1, 2, 3, 4]);
    expect(single.threads).toBe(1);
  });

  it("passes on an error the worker reports", async () => {
    await expect(pool(1).run("refuse")).rejects.toThrow("refused");
  });

  it("fails only the call of a worker that exits, and replaces the worker", async () => {
    const single = pool(1);
    const dying = single.run("exit");
    const queued = single.run<number>(7);
    await expect(dying).rejects.toThrow(/exit code 3/);
    expect(await queued).toBe(7);
    expect(await single.run<number>(8)).toBe(8);
  });

  it("fails only the call of a worker that crashes, and replaces the worker", async () => {
    const single = pool(1);
    await expect(single.run("throw")).rejects.toThrow("worker blew up");
    expect(await single.run<number>(9)).toBe(9);
  });

  it("on close, fails running and queued calls and stops its threads", async () => {
    const single = pool(1);
    const running = expect(single.run(1)).rejects.toThrow(/stopped/);
    const queued = expect(single.run(2)).rejects.toThrow(/closed/);
    await single.close();
    await Promise.all([running, queued]);
    expect(single.threads).toBe(0);
    await expect(single.run(3)).rejects.toThrow(/closed/);
  });
});
