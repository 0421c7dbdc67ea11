import { execFile, spawn, type ChildProcess } from "node:child_process";
import { constants as fsConstants, promises as fs } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";

const execFileAsync = promisify(execFile);

export const FERRETDB_VERSION = "v1.24.2";
const FERRETDB_MODULE = "github.com/FerretDB/FerretDB";

export type Log = (message: string) => void;

export interface RunningDatabase {
  /** Base URI without a database name, e.g. mongodb://127.0.0.1:41234 */
  readonly uri: string;
  stop(): Promise<void>;
}

/** Outside the checkout, so every clone and every CI run on this machine share one build. */
export function ferretdbCacheDir(): string {
  const base = process.env.XDG_CACHE_HOME || path.join(os.homedir(), ".cache");
  return path.join(base, "graphql-jwt-auth", `ferretdb-${FERRETDB_VERSION}`);
}

async function isExecutable(file: string): Promise<boolean> {
  try {
    await fs.access(file, fsConstants.X_OK);
    return true;
  } catch {
    return false;
  }
}

async function findOnPath(command: string): Promise<string | undefined> {
  for (const dir of (process.env.PATH ?? "").split(path.delimiter)) {
    if (dir && (await isExecutable(path.join(dir, command)))) return path.join(dir, command);
  }
  return undefined;
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
  await buildFerretdb(go, cached, log);
  return cached;
}

/**
 * Builds FerretDB from the Go module proxy's source. Not a plain `go install ...@version`:
 * that asks the proxy for the module's version list (refused here) and the result panics at
 * start because the module's source lacks build/version/version.txt, which FerretDB's own
 * build generates. So: download the module, add that file, build.
 */
async function buildFerretdb(go: string, target: string, log: Log): Promise<void> {
  log(
    `Building FerretDB ${FERRETDB_VERSION} once with Go into ${path.dirname(target)} (a minute or two; later runs reuse it)...`,
  );
  const env = { ...process.env, GOFLAGS: "-mod=mod", GO111MODULE: "on" };
  const work = await fs.mkdtemp(path.join(os.tmpdir(), "ferretdb-build-"));
  try {
    const { stdout } = await execFileAsync(
      go,
      ["mod", "download", "-json", `${FERRETDB_MODULE}@${FERRETDB_VERSION}`],
      { cwd: work, env, maxBuffer: 10 * 1024 * 1024 },
    );
    const moduleDir = (JSON.parse(stdout) as { Dir?: string }).Dir;
    if (!moduleDir) throw new Error(`go mod download gave no source directory: ${stdout}`);

    const source = path.join(work, "src");
    await fs.cp(moduleDir, source, { recursive: true });
    const versionDir = path.join(source, "build", "version");
    await fs.chmod(source, 0o755);
    await fs.chmod(path.join(source, "build"), 0o755);
    await fs.chmod(versionDir, 0o755);
    await fs.writeFile(path.join(versionDir, "version.txt"), `${FERRETDB_VERSION}\n`);

    await fs.mkdir(path.dirname(target), { recursive: true });
    // Build next to the target and rename: a concurrent start never sees half a binary.
    const partial = `${target}.partial-${process.pid}`;
    await execFileAsync(go, ["build", "-trimpath", "-o", partial, "./cmd/ferretdb"], {
      cwd: source,
      env,
      maxBuffer: 10 * 1024 * 1024,
    });
    await fs.rename(partial, target);
    log(`FerretDB ${FERRETDB_VERSION} built: ${target}`);
  } finally {
    await fs.chmod(work, 0o755).catch(() => undefined);
    await makeWritable(work);
    await fs.rm(work, { recursive: true, force: true });
  }
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
  dataDir: string;
  port?: number;
  log: Log;
}

/** Starts FerretDB on loopback with its SQLite backend and waits until it accepts connections. */
export async function startFerretdb(options: StartFerretdbOptions): Promise<RunningDatabase> {
  await fs.mkdir(options.dataDir, { recursive: true });
  const port = options.port ?? (await freePort());
  const child = spawn(
    options.binary,
    [
      "--handler=sqlite",
      `--sqlite-url=file:${options.dataDir}/`,
      `--listen-addr=127.0.0.1:${port}`,
      `--state-dir=${options.dataDir}`,
      "--debug-addr=-",
      "--telemetry=disable",
      "--log-level=warn",
    ],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  const killOnExit = () => child.kill("SIGKILL");
  process.once("exit", killOnExit);

  const deadline = Date.now() + 30_000;
  while (!(await canConnect(port))) {
    if (child.exitCode !== null || child.signalCode !== null) {
      process.off("exit", killOnExit);
      throw new Error(`FerretDB exited before it was ready:\n${stderr}`);
    }
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      process.off("exit", killOnExit);
      throw new Error(`FerretDB did not accept connections within 30 s:\n${stderr}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }

  return {
    uri: `mongodb://127.0.0.1:${port}`,
    stop: async () => {
      process.off("exit", killOnExit);
      await stopChild(child);
    },
  };
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
  await exited;
  clearTimeout(timer);
}
