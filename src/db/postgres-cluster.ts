import { execFile, spawn, type ChildProcess } from "node:child_process";
import { promises as fs } from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import { freePort, type Log } from "./ferretdb";
import { findOnPath, isExecutable } from "./processes";

const execFileAsync = promisify(execFile);

/**
 * A private PostgreSQL cluster for development, tests and the benchmark: `initdb` once into a
 * folder, then `postgres` on a free loopback port with `trust` authentication, as a child of
 * this process. Not for production: there, FerretDB is pointed at a PostgreSQL the team runs
 * (POSTGRESQL_URL).
 *
 * PostgreSQL refuses to run as root, so as root both run as the `postgres` user (Debian's
 * package creates it) and the folder is handed to that user. `postgres` is started directly
 * rather than through `pg_ctl start`, which detaches it: as our child, with the kernel's
 * parent-death signal (setpriv), it stops with us however we stop, instead of holding its port
 * and folder after a killed test run.
 */

export interface RunningPostgres {
  /** postgres://postgres@127.0.0.1:<port>/postgres — no password: trust on loopback only. */
  readonly url: string;
  readonly port: number;
  stop(): Promise<void>;
}

export class PostgresNotInstalledError extends Error {
  constructor() {
    super(
      "PostgreSQL's server programs (initdb, postgres) are not installed: on Debian or Ubuntu " +
        "`apt-get install postgresql` (or point POSTGRESQL_URL at a PostgreSQL you run).",
    );
    this.name = "PostgresNotInstalledError";
  }
}

/**
 * The folder holding initdb and postgres: PATH first, then Debian's versioned folders
 * (/usr/lib/postgresql/<version>/bin, newest first), which Debian keeps off PATH.
 */
export async function locatePostgresBin(): Promise<string | undefined> {
  for (const dir of (process.env.PATH ?? "").split(path.delimiter)) {
    if (!dir) continue;
    if (
      (await isExecutable(path.join(dir, "initdb"))) &&
      (await isExecutable(path.join(dir, "postgres")))
    )
      return dir;
  }
  const versions = await fs.readdir("/usr/lib/postgresql").catch(() => [] as string[]);
  for (const version of versions.sort((a, b) => Number(b) - Number(a))) {
    const dir = path.join("/usr/lib/postgresql", version, "bin");
    if (await isExecutable(path.join(dir, "initdb"))) return dir;
  }
  return undefined;
}

interface Account {
  readonly uid: number;
  readonly gid: number;
}

async function postgresAccount(): Promise<Account> {
  const passwd = await fs.readFile("/etc/passwd", "utf8").catch(() => "");
  const line = passwd.split("\n").find((entry) => entry.startsWith("postgres:"));
  const [, , uid, gid] = line?.split(":") ?? [];
  if (uid === undefined || gid === undefined) {
    throw new Error(
      "PostgreSQL refuses to run as root and there is no `postgres` user to run it as " +
        "(Debian's postgresql package creates one): run as another user, or create it.",
    );
  }
  return { uid: Number(uid), gid: Number(gid) };
}

/** The postgres user must pass through every folder above the cluster's (mkdtemp's are 0700). */
async function assertReachableByOthers(dir: string): Promise<void> {
  for (let current = dir; ; current = path.dirname(current)) {
    const { mode } = await fs.stat(current);
    if ((mode & 0o001) === 0) {
      throw new Error(
        `The postgres user cannot reach ${dir}: ${current} is not searchable by other users ` +
          `(chmod o+x ${current}, or put the cluster elsewhere)`,
      );
    }
    if (path.dirname(current) === current) return;
  }
}

/**
 * How to run a PostgreSQL program here: as the postgres user when we are root, and, where
 * setpriv exists, with a parent-death signal so the server stops when this process dies.
 * SIGINT is PostgreSQL's "fast shutdown": clean, without waiting for clients.
 */
async function commandPrefix(account: Account | undefined, dieWithParent: boolean) {
  const setpriv = process.platform === "linux" ? await findOnPath("setpriv") : undefined;
  if (account && !setpriv) {
    throw new Error("setpriv (util-linux) is needed to run PostgreSQL as the postgres user");
  }
  if (!setpriv) return [];
  const prefix = [setpriv];
  if (account) {
    prefix.push(`--reuid=${account.uid}`, `--regid=${account.gid}`, "--clear-groups");
  }
  if (dieWithParent) prefix.push("--pdeathsig", "SIGINT");
  return prefix.length > 1 ? [...prefix, "--"] : [];
}

/**
 * Starts (creating it the first time) a cluster in `dir` and resolves once it accepts
 * connections. The cluster's files are in `dir/data`; its unix socket in `dir`.
 */
export async function startPostgresCluster(options: {
  dir: string;
  log: Log;
  port?: number;
}): Promise<RunningPostgres> {
  const bin = await locatePostgresBin();
  if (!bin) throw new PostgresNotInstalledError();
  const dir = path.resolve(options.dir);
  const dataDir = path.join(dir, "data");
  const account = process.getuid?.() === 0 ? await postgresAccount() : undefined;
  await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  if (account) {
    await assertReachableByOthers(path.dirname(dir));
    await fs.chown(dir, account.uid, account.gid);
  }

  const created = await fs.stat(path.join(dataDir, "PG_VERSION")).then(
    () => true,
    () => false,
  );
  if (!created) {
    options.log(`PostgreSQL: creating a private cluster in ${dataDir} (initdb)`);
    const [command, ...args] = [
      ...(await commandPrefix(account, false)),
      path.join(bin, "initdb"),
      `--pgdata=${dataDir}`,
      "--username=postgres",
      // Loopback only (listen_addresses below), in a folder only its owner can read.
      "--auth=trust",
      "--encoding=UTF8",
      "--no-locale",
      "--no-sync",
    ];
    try {
      await execFileAsync(command!, args, { cwd: dir });
    } catch (error) {
      const stderr = (error as { stderr?: string }).stderr ?? "";
      throw new Error(`initdb failed in ${dataDir}:\n${stderr.slice(-2000)}`, { cause: error });
    }
  }

  const port = options.port ?? (await freePort());
  const prefix = await commandPrefix(account, true);
  const [command, ...args] = [
    ...prefix,
    path.join(bin, "postgres"),
    "-D",
    dataDir,
    "-p",
    String(port),
    "-k",
    dir,
    "-c",
    "listen_addresses=127.0.0.1",
  ];
  const child = spawn(command!, args, { cwd: dir, stdio: ["ignore", "ignore", "pipe"] });
  const killOnExit = () => child.kill("SIGKILL");
  process.once("exit", killOnExit);
  let stderr = "";
  const ready = new Promise<void>((resolve, reject) => {
    const deadline = setTimeout(
      () => reject(new Error(`PostgreSQL did not start within 60 s:\n${stderr}`)),
      60_000,
    );
    child.stderr.on("data", (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-8000);
      if (/ready to accept connections/.test(stderr)) {
        clearTimeout(deadline);
        resolve();
      }
    });
    child.once("exit", (code, signal) => {
      clearTimeout(deadline);
      reject(new Error(`PostgreSQL exited (${signal ?? code}) before it was ready:\n${stderr}`));
    });
  });
  try {
    await ready;
  } catch (error) {
    process.off("exit", killOnExit);
    await stopChild(child);
    throw error;
  }
  // After start-up only its problems are of interest; keep the pipe drained.
  child.stderr.removeAllListeners("data");
  child.stderr.resume();
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  try {
    await applyTuning(bin, url);
  } catch (error) {
    process.off("exit", killOnExit);
    await stopChild(child);
    throw error;
  }
  options.log(`PostgreSQL (private cluster) listening on 127.0.0.1:${port}, files in ${dataDir}`);
  return {
    url,
    port,
    stop: async () => {
      process.off("exit", killOnExit);
      await stopChild(child);
    },
  };
}

/** scripts/postgresql-tuning.sql, from src/db or dist/db alike. */
export const TUNING_SQL = path.resolve(__dirname, "..", "..", "scripts", "postgresql-tuning.sql");

/**
 * Without it every FerretDB lookup by _id scans its table on PostgreSQL (see the file). Run on
 * every start: it is idempotent and takes a fraction of a second.
 */
async function applyTuning(bin: string, url: string): Promise<void> {
  const psql = (await isExecutable(path.join(bin, "psql"))) ? path.join(bin, "psql") : "psql";
  try {
    await execFileAsync(psql, [url, "--quiet", "--set=ON_ERROR_STOP=1", "--file", TUNING_SQL]);
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr ?? (error as Error).message;
    throw new Error(`applying ${TUNING_SQL} failed:\n${stderr.slice(-2000)}`, { cause: error });
  }
}

/** Fast shutdown (SIGINT), SIGKILL if it takes more than 15 s. */
async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill("SIGINT");
  const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
  await exited;
  clearTimeout(timer);
}
