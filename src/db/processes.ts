import { execFile } from "node:child_process";
import { promises as fs } from "node:fs";
import path from "node:path";
import { promisify } from "node:util";

const execFileAsync = promisify(execFile);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Fields of /proc/<pid>/stat after the command name, which may itself contain spaces. */
async function procStat(pid: number): Promise<string[] | undefined> {
  try {
    const stat = await fs.readFile(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  } catch {
    return undefined;
  }
}

/** True while `pid` runs. A zombie (exited, not yet reaped by its parent) counts as gone. */
export async function isRunning(pid: number): Promise<boolean> {
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
  const stat = await procStat(pid);
  return stat?.[0] !== "Z";
}

/**
 * When the process started, as an opaque string: with the pid it names one process, even after
 * the pid is reused. /proc on Linux, `ps` elsewhere; undefined when neither can tell.
 */
export async function startTimeOf(pid: number): Promise<string | undefined> {
  if (process.platform === "linux") return (await procStat(pid))?.[19];
  try {
    const { stdout } = await execFileAsync("ps", ["-o", "lstart=", "-p", String(pid)]);
    return stdout.trim() || undefined;
  } catch {
    return undefined;
  }
}

/** The process's command line, arguments joined by spaces; undefined when it is gone. */
export async function commandLineOf(pid: number): Promise<string | undefined> {
  if (process.platform === "linux") {
    try {
      const raw = await fs.readFile(`/proc/${pid}/cmdline`, "utf8");
      return raw.split("\0").filter(Boolean).join(" ") || undefined;
    } catch {
      return undefined;
    }
  }
  try {
    const { stdout } = await execFileAsync("ps", ["-o", "command=", "-p", String(pid)]);
    return stdout.trim() || undefined;
  } catch {
    return undefined;
  }
}

/** Every process with its command line (Linux only: elsewhere an empty list). */
export async function listProcesses(): Promise<{ pid: number; commandLine: string }[]> {
  if (process.platform !== "linux") return [];
  const pids = (await fs.readdir("/proc")).filter((name) => /^\d+$/.test(name)).map(Number);
  const found = await Promise.all(
    pids.map(async (pid) => ({ pid, commandLine: await commandLineOf(pid) })),
  );
  return found.filter((p): p is { pid: number; commandLine: string } => !!p.commandLine);
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone. */
export async function stopProcess(pid: number, graceMs = 5_000): Promise<void> {
  const waitGone = async (ms: number) => {
    for (const deadline = Date.now() + ms; Date.now() < deadline; await sleep(50)) {
      if (!(await isRunning(pid))) return true;
    }
    return !(await isRunning(pid));
  };
  try {
    process.kill(pid, "SIGTERM");
  } catch {
    return;
  }
  if (await waitGone(graceMs)) return;
  try {
    process.kill(pid, "SIGKILL");
  } catch {
    return;
  }
  if (!(await waitGone(5_000))) throw new Error(`process ${pid} did not stop after SIGKILL`);
}

/** Whether this process may run `file`. */
export async function isExecutable(file: string): Promise<boolean> {
  try {
    await fs.access(file, fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The first executable `command` on PATH, as a shell would find it. */
export async function findOnPath(command: string): Promise<string | undefined> {
  for (const dir of (process.env.PATH ?? "").split(path.delimiter)) {
    if (dir && (await isExecutable(path.join(dir, command)))) return path.join(dir, command);
  }
  return undefined;
}

let parentDeathPrefix: Promise<string[] | undefined> | undefined;

/**
 * The command prefix that makes the kernel kill a child the moment the process that started it
 * dies, however it dies: SIGKILL and crashes run no exit handler, so nothing else could stop
 * the child then. Linux's setpriv (util-linux) sets PR_SET_PDEATHSIG and execs the command
 * (the pid stays the child's). Undefined where there is no setpriv (macOS, minimal images).
 */
export function parentDeathSignalPrefix(): Promise<string[] | undefined> {
  parentDeathPrefix ??= (async () => {
    if (process.platform !== "linux") return undefined;
    const setpriv = await findOnPath("setpriv");
    return setpriv ? [setpriv, "--pdeathsig", "SIGKILL", "--"] : undefined;
  })();
  return parentDeathPrefix;
}
