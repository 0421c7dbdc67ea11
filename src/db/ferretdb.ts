import { execFile, spawn, type ChildProcess } from "node:child_process";
import { promises as fs } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { claimDataDir } from "./data-dir-claim";
import {
  findOnPath,
  isExecutable,
  isRunning,
  parentDeathSignalPrefix,
  startTimeOf,
} from "./processes";

const execFileAsync = promisify(execFile);

export const FERRETDB_VERSION = "v1.24.2";
const FERRETDB_MODULE = "github.com/FerretDB/FerretDB";

/**
 * The one change we make to FerretDB's source before building it. Its SQLite backend filters
 * by `_id` with `_ferretdb_sjson->'$._id'`, but the unique `_id` index it creates is on
 * `_ferretdb_sjson->"_id"`. SQLite matches index expressions by their text, so every find,
 * update, replace and delete by `_id` scanned the whole table: a replace took 7 ms at 1,000
 * documents and 55 ms at 10,000. `->'_id'` is the same path in SQLite's JSON operators and is
 * the index's expression, so those become index lookups. Data files are unchanged.
 */
const FERRETDB_SOURCE_PATCHES = [
  {
    file: "internal/backends/sqlite/metadata/metadata.go",
    from: `IDColumn = DefaultColumn + "->'$._id'"`,
    to: `IDColumn = DefaultColumn + "->'_id'"`,
  },
] as const;

/** Names our build apart from a stock FerretDB and from our builds before the patch. */
const BUILD_NAME = `${FERRETDB_VERSION}-sqlite-id-index`;

export type Log = (message: string) => void;

/** The build takes minutes: a line at least this often says it is still going. */
const PROGRESS_EVERY_MS = 15_000;

function duration(ms: number): string {
  const seconds = Math.round(ms / 1000);
  return seconds < 60 ? `${seconds} s` : `${Math.floor(seconds / 60)} min ${seconds % 60} s`;
}

export interface RunningDatabase {
  /** Base URI without a database name, e.g. mongodb://127.0.0.1:41234 */
  readonly uri: string;
  stop(): Promise<void>;
}

/** Outside the checkout, so every clone and every CI run on this machine share one build. */
export function ferretdbCacheDir(): string {
  const base = process.env.XDG_CACHE_HOME || path.join(os.homedir(), ".cache");
  return path.join(base, "graphql-jwt-auth", `ferretdb-${BUILD_NAME}`);
}

/**
 * FERRETDB_BIN, then a `ferretdb` on PATH, then our cached build, then a fresh build with Go.
 * Returns undefined when none of these is possible (no Go toolchain).
 */
export async function locateFerretdb(log: Log): Promise<string | undefined> {
  const explicit = process.env.FERRETDB_BIN;
  if (explicit) {
    if (await isExecutable(explicit)) return explicit;
    throw new Error(`FERRETDB_BIN=${explicit} is not an executable file`);
  }
  const onPath = await findOnPath("ferretdb");
  if (onPath) return onPath;
  const cached = path.join(ferretdbCacheDir(), "ferretdb");
  if (await isExecutable(cached)) return cached;
  const go = await findOnPath("go");
  if (!go) return undefined;
  await withBuildLock(path.dirname(cached), log, async () => {
    // Built by the start that held the lock while this one waited.
    if (!(await isExecutable(cached))) await buildFerretdb(go, cached, log);
  });
  return cached;
}

/**
 * One build at a time per machine: `npm start` and `npm test` on a fresh machine would
 * otherwise both spend minutes of both cores building the same binary. A lock whose process
 * is gone (killed mid-build) is taken over.
 */
async function withBuildLock(cacheDir: string, log: Log, build: () => Promise<void>) {
  await fs.mkdir(cacheDir, { recursive: true });
  const lock = path.join(cacheDir, "build.lock");
  const me = JSON.stringify({ pid: process.pid, started: await startTimeOf(process.pid) });
  const waitStarted = Date.now();
  let lastNotice = 0;
  for (;;) {
    try {
      await fs.writeFile(lock, me, { flag: "wx" });
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    }
    const raw = await fs.readFile(lock, "utf8").catch(() => "");
    const holder = (() => {
      try {
        return JSON.parse(raw) as { pid: number; started?: string };
      } catch {
        return undefined;
      }
    })();
    const holderAlive =
      holder !== undefined &&
      (await isRunning(holder.pid)) &&
      (holder.started === undefined || (await startTimeOf(holder.pid)) === holder.started);
    if (!holderAlive) {
      if (holder !== undefined || Date.now() - waitStarted > 2_000) {
        if ((await fs.readFile(lock, "utf8").catch(() => "")) === raw)
          await fs.rm(lock, { force: true });
      }
    } else if (Date.now() - lastNotice >= PROGRESS_EVERY_MS) {
      lastNotice = Date.now();
      log(
        `FerretDB build: waiting for the build in process ${holder.pid} ` +
          `(${duration(Date.now() - waitStarted)} so far)`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  try {
    await build();
  } finally {
    await fs.rm(lock, { force: true });
  }
}

/**
 * Runs one build step with its name, a progress line every PROGRESS_EVERY_MS with the time
 * so far, and its duration at the end. Resolves with its stdout; rejects with its stderr.
 */
async function buildStep(
  step: string,
  command: string[],
  options: { cwd: string; env: NodeJS.ProcessEnv; log: Log; buildStarted: number },
): Promise<string> {
  const started = Date.now();
  options.log(`FerretDB build: ${step}...`);
  // The parent-death prefix stops the Go toolchain too if this process is killed mid-build.
  const [file, ...args] = [...((await parentDeathSignalPrefix()) ?? []), ...command];
  const child = spawn(file!, args, { cwd: options.cwd, env: options.env });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4000)));
  const progress = setInterval(() => {
    options.log(
      `FerretDB build: ${step}: still running (${duration(Date.now() - started)} on this step, ` +
        `${duration(Date.now() - options.buildStarted)} in all)`,
    );
  }, PROGRESS_EVERY_MS);
  try {
    const code = await new Promise<number | null>((resolve, reject) => {
      child.once("error", reject);
      child.once("close", resolve);
    });
    if (code !== 0) throw new Error(`${command.join(" ")} failed (exit code ${code}):\n${stderr}`);
  } finally {
    clearInterval(progress);
  }
  options.log(`FerretDB build: ${step}: done in ${duration(Date.now() - started)}`);
  return stdout;
}

/** Disk used under `dir` in bytes, or undefined where `du` is missing. */
async function diskUsage(dir: string): Promise<number | undefined> {
  try {
    const { stdout } = await execFileAsync("du", ["-sk", dir]);
    return Number(stdout.split(/\s/)[0]) * 1024;
  } catch {
    return undefined;
  }
}

const megabytes = (bytes: number) => `${Math.round(bytes / 1024 / 1024)} MB`;

/**
 * Builds FerretDB from the Go module proxy's source. Not a plain `go install ...@version`:
 * that asks the proxy for the module's version list (refused here) and the result panics at
 * start because the module's source lacks build/version/version.txt, which FerretDB's own
 * build generates. So: download the module, add that file, download its dependencies, build.
 *
 * Go's module and build caches for it (about a gigabyte) are private to the build and removed
 * afterwards: they would serve only the next build of this version, which never comes.
 */
async function buildFerretdb(go: string, target: string, log: Log): Promise<void> {
  const buildStarted = Date.now();
  const cacheDir = path.dirname(target);
  await fs.mkdir(cacheDir, { recursive: true });
  log(
    `FerretDB ${FERRETDB_VERSION} is not built yet: building it once with Go into ${cacheDir}. ` +
      "This takes about 2 minutes on two idle cores, 4 to 6 on busy ones, and about 1 GB of " +
      "temporary disk; later starts and other clones reuse the binary.",
  );
  await removeAbandonedBuilds(cacheDir);
  // On the cache's disk, not in /tmp: a gigabyte of Go caches may not fit a RAM-backed /tmp.
  const work = await fs.mkdtemp(path.join(cacheDir, `build-${process.pid}-`));
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    GOFLAGS: "-mod=mod -modcacherw",
    GO111MODULE: "on",
    GOPATH: path.join(work, "gopath"),
    GOMODCACHE: path.join(work, "gomodcache"),
    GOCACHE: path.join(work, "gocache"),
  };
  const step = { env, log, buildStarted };
  try {
    const download = await buildStep(
      "1/3 download FerretDB's source from the Go module proxy",
      [go, "mod", "download", "-json", `${FERRETDB_MODULE}@${FERRETDB_VERSION}`],
      { ...step, cwd: work },
    );
    const moduleDir = (JSON.parse(download) as { Dir?: string }).Dir;
    if (!moduleDir) throw new Error(`go mod download gave no source directory: ${download}`);

    const source = path.join(work, "src");
    await fs.cp(moduleDir, source, { recursive: true });
    const versionDir = path.join(source, "build", "version");
    await fs.chmod(source, 0o755);
    await fs.chmod(path.join(source, "build"), 0o755);
    await fs.chmod(versionDir, 0o755);
    await fs.writeFile(path.join(versionDir, "version.txt"), `${FERRETDB_VERSION}\n`);
    await applySourcePatches(source);

    await buildStep("2/3 download its dependencies", [go, "list", "-deps", "./cmd/ferretdb"], {
      ...step,
      cwd: source,
    });
    // Build next to the target and rename: a concurrent start never sees half a binary.
    const partial = `${target}.partial-${process.pid}`;
    await buildStep(
      "3/3 compile (the long step)",
      [go, "build", "-trimpath", "-o", partial, "./cmd/ferretdb"],
      { ...step, cwd: source },
    );
    const caches = await diskUsage(work);
    await fs.rename(partial, target);
    const size = (await fs.stat(target)).size;
    log(
      `FerretDB ${FERRETDB_VERSION} built in ${duration(Date.now() - buildStarted)}: ${target} ` +
        `(${megabytes(size)}).` +
        (caches === undefined
          ? ""
          : ` The build's Go caches (${megabytes(caches)}) are removed now.`),
    );
  } finally {
    await removeBuildDir(work);
  }
}

async function applySourcePatches(source: string): Promise<void> {
  for (const patch of FERRETDB_SOURCE_PATCHES) {
    const file = path.join(source, patch.file);
    const text = await fs.readFile(file, "utf8");
    // Exactly once: a source that changed under us must fail the build, not build unpatched.
    if (text.split(patch.from).length !== 2) {
      throw new Error(`FerretDB source patch does not apply: ${patch.file} lacks ${patch.from}`);
    }
    await fs.chmod(file, 0o644);
    await fs.writeFile(file, text.replace(patch.from, patch.to));
  }
}

/** Work folders of builds whose process is gone (killed mid-build) hold up to a gigabyte. */
async function removeAbandonedBuilds(cacheDir: string): Promise<void> {
  for (const name of await fs.readdir(cacheDir).catch(() => [])) {
    const pid = /^build-(\d+)-/.exec(name)?.[1];
    if (pid !== undefined && !(await isRunning(Number(pid)))) {
      await removeBuildDir(path.join(cacheDir, name));
    }
  }
}

async function removeBuildDir(dir: string): Promise<void> {
  await fs.chmod(dir, 0o755).catch(() => undefined);
  await makeWritable(dir);
  await fs.rm(dir, { recursive: true, force: true });
}

/** Files copied from Go's module cache are read-only; rm needs write access to their folders. */
async function makeWritable(dir: string): Promise<void> {
  const entries = await fs.readdir(dir, { withFileTypes: true }).catch(() => []);
  await Promise.all(
    entries
      .filter((entry) => entry.isDirectory())
      .map(async (entry) => {
        const child = path.join(dir, entry.name);
        await fs.chmod(child, 0o755).catch(() => undefined);
        await makeWritable(child);
      }),
  );
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: "127.0.0.1", port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

export interface StartFerretdbOptions {
  binary: string;
  /** SQLite: the database files. PostgreSQL: only FerretDB's own state file. */
  dataDir: string;
  /** Set: FerretDB stores everything in this PostgreSQL database instead of SQLite files. */
  postgresqlUrl?: string;
  port?: number;
  log: Log;
}

/** Nothing to claim: PostgreSQL is made for many clients, FerretDBs included. */
const NO_CLAIM = { recordFerretdb: async () => undefined, release: async () => undefined };

/**
 * Starts FerretDB on loopback with its SQLite backend (or PostgreSQL, given `postgresqlUrl`)
 * and waits until it accepts connections. On SQLite it claims the data folder first (see
 * claimDataDir), so it never runs next to another FerretDB on the same files. It dies with
 * this process even when this process is killed with SIGKILL (see parentDeathSignalPrefix).
 */
export async function startFerretdb(options: StartFerretdbOptions): Promise<RunningDatabase> {
  const dataDir = path.resolve(options.dataDir);
  await fs.mkdir(dataDir, { recursive: true });
  const claim =
    options.postgresqlUrl === undefined ? await claimDataDir(dataDir, options.log) : NO_CLAIM;
  const prefix = await parentDeathSignalPrefix();
  if (!prefix) warnNoParentDeathSignal(options.log);
  let child: ChildProcess | undefined;
  const killOnExit = () => child?.kill("SIGKILL");
  try {
    const port = options.port ?? (await freePort());
    const [command, ...args] = [
      ...(prefix ?? []),
      options.binary,
      ...(options.postgresqlUrl === undefined
        ? ["--handler=sqlite", `--sqlite-url=file:${dataDir}/`]
        : ["--handler=postgresql"]),
      `--listen-addr=127.0.0.1:${port}`,
      `--state-dir=${dataDir}`,
      "--debug-addr=-",
      "--telemetry=disable",
      "--log-level=warn",
    ];
    child = spawn(command!, args, {
      // The PostgreSQL URL by environment, not argument: it may hold a password, and every
      // user of the machine can read a process's arguments.
      env:
        options.postgresqlUrl === undefined
          ? process.env
          : { ...process.env, FERRETDB_POSTGRESQL_URL: options.postgresqlUrl },
      stdio: ["ignore", "ignore", "pipe"],
      // Its own process group: a Ctrl-C in the terminal reaches the server, which stops
      // FerretDB after draining requests, instead of FerretDB quitting under them.
      detached: true,
    });
    const running = child;
    process.once("exit", killOnExit);
    if (running.pid !== undefined) await claim.recordFerretdb(running.pid);
    let stderr = "";
    running.stderr?.on("data", (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-4000);
    });

    const deadline = Date.now() + 30_000;
    while (!(await canConnect(port))) {
      if (running.exitCode !== null || running.signalCode !== null) {
        throw new Error(`FerretDB exited before it was ready:\n${stderr}`);
      }
      if (Date.now() > deadline) {
        throw new Error(`FerretDB did not accept connections within 30 s:\n${stderr}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }

    return {
      uri: `mongodb://127.0.0.1:${port}`,
      stop: async () => {
        process.off("exit", killOnExit);
        await stopChild(running);
        await claim.release();
      },
    };
  } catch (error) {
    process.off("exit", killOnExit);
    if (child) await stopChild(child, 0);
    await claim.release();
    throw error;
  }
}

let warnedNoParentDeathSignal = false;

function warnNoParentDeathSignal(log: Log): void {
  if (warnedNoParentDeathSignal) return;
  warnedNoParentDeathSignal = true;
  log(
    "setpriv (util-linux) is not available here: if this process is killed with SIGKILL, its " +
      "FerretDB keeps running until the next start on the same data folder stops it.",
  );
}

/** SIGTERM, SIGKILL after `graceMs`; resolves once the child has exited. */
async function stopChild(child: ChildProcess, graceMs = 5_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill(graceMs > 0 ? "SIGTERM" : "SIGKILL");
  const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
  await exited;
  clearTimeout(timer);
}
