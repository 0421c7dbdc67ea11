import { readFileSync, readdirSync } from "node:fs";
import bcrypt from "bcryptjs";
import { WorkerPool } from "../src/auth/password-pool";
import { createPasswordHasher, type PasswordHasher } from "../src/auth/passwords";

/**
 * CPU time in clock ticks used so far by one thread of this process (its task id), or by the
 * whole process with every thread. Linux only. Unlike wall-clock time, it does not move with
 * the other load on the machine: it says which thread did the work, not how fast.
 */
function cpuTicks(task?: string): number {
  const stat = readFileSync(task ? `/proc/self/task/${task}/stat` : "/proc/self/stat", "utf8");
  // Fields after the parenthesised command name; utime and stime are the 14th and 15th.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return Number(fields[11]) + Number(fields[12]);
}

/** Runs `work` and returns the share of the process's CPU time the main thread spent on it. */
async function mainThreadShare(work: () => Promise<unknown>) {
  const mainThread = String(process.pid);
  const before = { main: cpuTicks(mainThread), all: cpuTicks() };
  // Ticks of the main thread's event loop while the work runs.
  let ticks = 0;
  const timer = setInterval(() => ticks++, 5);
  try {
    await work();
  } finally {
    clearInterval(timer);
  }
  const main = cpuTicks(mainThread) - before.main;
  const all = cpuTicks() - before.all;
  return { share: main / all, cpuTicks: all, loopTicks: ticks };
}

const onLinux = process.platform === "linux" ? it : it.skip;

describe("password hashing", () => {
  const hashers: PasswordHasher[] = [];
  const hasher = (rounds: number, workers?: number, niceness?: number) => {
    const created = createPasswordHasher(rounds, { workers, niceness });
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

  onLinux(
    "runs four cost-12 hashes on the pool's threads: the main thread spends almost none of their CPU and its event loop keeps turning",
    async () => {
      // At normal priority: niced threads on a machine busy with other work would get so little
      // CPU that this test measures the machine (the priority has its own test below).
      const passwords = hasher(12, 2, 0);
      // Starting a thread is a one-off cost; keep it out of the measurement.
      await Promise.all([passwords.hash("warm up 1"), passwords.hash("warm up 2")]);

      let hashes: string[] = [];
      const { share, cpuTicks, loopTicks } = await mainThreadShare(async () => {
        hashes = await Promise.all([1, 2, 3, 4].map((n) => passwords.hash(`password ${n}`)));
      });
      expect(new Set(hashes).size).toBe(4);
      // Four cost-12 hashes are most of a second of CPU on any machine: real work was measured.
      expect(cpuTicks).toBeGreaterThan(20);
      expect(share).toBeLessThan(0.2);
      expect(loopTicks).toBeGreaterThan(0);
      // How long the event loop stalls meanwhile is a benchmark target (`npm run bench`).
    },
    60_000,
  );

  onLinux(
    "with no workers the same hashes run on the main thread (what the workers prevent)",
    async () => {
      const passwords = hasher(12, 0);
      const { share, cpuTicks } = await mainThreadShare(() =>
        Promise.all([1, 2].map((n) => passwords.hash(`on the main thread ${n}`))),
      );
      expect(cpuTicks).toBeGreaterThan(10);
      expect(share).toBeGreaterThan(0.7);
    },
    60_000,
  );

  onLinux("runs hashing threads at a lower priority than the main thread (Linux)", async () => {
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
  });

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
