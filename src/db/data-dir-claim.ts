import { promises as fs } from "node:fs";
import path from "node:path";
import { commandLineOf, isRunning, listProcesses, startTimeOf, stopProcess } from "./processes";

/**
 * Two FerretDB processes on one SQLite folder corrupt it. Whoever starts FerretDB on a folder
 * first claims it with this file, created exclusively, and records there which process owns
 * the folder and which FerretDB serves it. The claim dies with its owner: a later start that
 * finds the owner gone stops the FerretDB the file names (it outlived a killed run) before it
 * starts its own; one that finds the owner alive refuses to start.
 */
export const PID_FILE_NAME = "ferretdb.pid";

type Log = (message: string) => void;

interface ProcessRef {
  pid: number;
  /** From startTimeOf(): tells a live owner from a new process that got the same pid. */
  started?: string;
}

interface ClaimRecord {
  owner: ProcessRef;
  ferretdb?: ProcessRef;
}

export class DataDirInUseError extends Error {
  constructor(dataDir: string, owner: number) {
    super(
      `${dataDir} is in use by another server (pid ${owner}) with its own FerretDB. ` +
        "Stop that server first, or give this one another folder: two database servers on one " +
        "SQLite folder would corrupt it.",
    );
    this.name = "DataDirInUseError";
  }
}

export interface DataDirClaim {
  /** Notes the FerretDB now serving the folder, so a later start can find it. */
  recordFerretdb(pid: number): Promise<void>;
  /** Gives the folder up; call once this process's FerretDB has exited. */
  release(): Promise<void>;
}

function parseRecord(raw: string | undefined): ClaimRecord | undefined {
  try {
    const parsed = JSON.parse(raw ?? "") as Partial<ClaimRecord>;
    return typeof parsed.owner?.pid === "number" ? (parsed as ClaimRecord) : undefined;
  } catch {
    return undefined;
  }
}

async function readRecord(file: string): Promise<ClaimRecord | undefined> {
  return parseRecord(await fs.readFile(file, "utf8").catch(() => undefined));
}

async function isAlive(ref: ProcessRef): Promise<boolean> {
  if (!(await isRunning(ref.pid))) return false;
  return ref.started === undefined || (await startTimeOf(ref.pid)) === ref.started;
}

/** FerretDB is started with --state-dir=<folder>: that names the folder it serves. */
function servesFolder(commandLine: string | undefined, dataDir: string): boolean {
  if (!commandLine || !/ferretdb/i.test(commandLine)) return false;
  // The whole argument: /data/a must not match a FerretDB on /data/ab.
  const argument = `--state-dir=${dataDir}`;
  return commandLine.includes(`${argument} `) || commandLine.endsWith(argument);
}

async function stopStrayFerretdb(pid: number, dataDir: string, log: Log): Promise<void> {
  log(
    `Stopping FerretDB (pid ${pid}) left running on ${dataDir} by a server that was killed ` +
      "before it could stop it",
  );
  await stopProcess(pid);
}

/**
 * Stops a FerretDB on `dataDir` whose owner is gone. For the launcher (scripts/start.mjs) after
 * its server died without stopping its database: there setpriv was missing, or the server was
 * killed before FerretDB started. Returns whether one was stopped.
 */
export async function stopOrphanedFerretdb(dataDir: string, log: Log): Promise<boolean> {
  const folder = path.resolve(dataDir);
  const file = path.join(folder, PID_FILE_NAME);
  const record = await readRecord(file);
  if (!record?.ferretdb || (await isAlive(record.owner))) return false;
  if (!(await isAlive(record.ferretdb))) return false;
  if (!servesFolder(await commandLineOf(record.ferretdb.pid), folder)) return false;
  await stopStrayFerretdb(record.ferretdb.pid, folder, log);
  await fs.rm(file, { force: true });
  return true;
}

/**
 * Claims `dataDir` for this process. A claim left by a dead owner is taken over after its
 * FerretDB, if still running, is stopped; a live owner's claim makes this throw
 * DataDirInUseError. On Linux it also stops any FerretDB on the folder that no claim names
 * (started by a version that wrote none, or whose file was deleted).
 */
export async function claimDataDir(dataDir: string, log: Log): Promise<DataDirClaim> {
  const folder = path.resolve(dataDir);
  const file = path.join(folder, PID_FILE_NAME);
  const owner: ProcessRef = { pid: process.pid, started: await startTimeOf(process.pid) };

  for (let attempt = 0; ; attempt++) {
    try {
      await fs.writeFile(file, JSON.stringify({ owner } satisfies ClaimRecord), { flag: "wx" });
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST" || attempt >= 5) throw error;
    }
    const readRaw = () => fs.readFile(file, "utf8").catch(() => undefined);
    let raw = await readRaw();
    let record = parseRecord(raw);
    if (!record) {
      // Another start writing its claim this instant, or a file cut short by a crash.
      await new Promise((resolve) => setTimeout(resolve, 200));
      raw = await readRaw();
      record = parseRecord(raw);
    }
    if (record) {
      const ours = record.owner.pid === process.pid;
      const ferretdbAlive = record.ferretdb ? await isAlive(record.ferretdb) : false;
      if (!ours && (await isAlive(record.owner))) {
        throw new DataDirInUseError(folder, record.owner.pid);
      }
      if (ours && ferretdbAlive) throw new DataDirInUseError(folder, process.pid);
      if (record.ferretdb && ferretdbAlive) {
        if (servesFolder(await commandLineOf(record.ferretdb.pid), folder)) {
          await stopStrayFerretdb(record.ferretdb.pid, folder, log);
        }
      }
    }
    // Only the stale claim just read goes: one another start wrote meanwhile stays.
    if ((await readRaw()) === raw) await fs.rm(file, { force: true });
  }

  for (const stray of await listProcesses()) {
    if (stray.pid !== process.pid && servesFolder(stray.commandLine, folder)) {
      await stopStrayFerretdb(stray.pid, folder, log);
    }
  }

  let released = false;
  return {
    async recordFerretdb(pid) {
      const record: ClaimRecord = { owner, ferretdb: { pid, started: await startTimeOf(pid) } };
      // Write and rename: a start reading the file never sees half of it.
      const partial = `${file}.${process.pid}.partial`;
      await fs.writeFile(partial, JSON.stringify(record));
      await fs.rename(partial, file);
    },
    async release() {
      if (released) return;
      released = true;
      if ((await readRecord(file))?.owner.pid === process.pid) await fs.rm(file, { force: true });
    },
  };
}
