import { spawn, spawnSync } from "node:child_process";
import { promises as fs, readFileSync, readdirSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { PID_FILE_NAME } from "../src/db/data-dir-claim";
import { freePort, locateFerretdb } from "../src/db/ferretdb";
import { PublicContentDocument, SigninDocument, SignupDocument } from "./generated/graphql";
import { expectData, newAccount } from "./setup/kit";
import { killServerProcesses, spawnServer, type ServerProcess } from "./setup/server-process";

/**
 * `npm start` as a user runs it, killed in the ways a user (or a CI job, or an OOM killer)
 * kills it, and started again on the same data folder: afterwards no process of the old run
 * may be left, no second FerretDB may ever serve the folder, and the data must still be there.
 * Processes are found in /proc, so these tests run on Linux only.
 */

const ROOT = path.resolve(__dirname, "..");
const GENEROUS_MS = 240_000;

interface Folder {
  dir: string;
  dataDir: string;
}

const folders: string[] = [];
const strays: number[] = [];

/** A folder to run `npm start` in: the project's package.json and scripts, its own .data/. */
async function appFolder(): Promise<Folder> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), "graphql-jwt-auth-lifecycle-"));
  folders.push(dir);
  await fs.copyFile(path.join(ROOT, "package.json"), path.join(dir, "package.json"));
  // The script's real path is in the checkout: it builds and runs the checkout's server there.
  await fs.symlink(path.join(ROOT, "scripts"), path.join(dir, "scripts"));
  return { dir, dataDir: path.join(dir, ".data", "ferretdb") };
}

interface ProcessInfo {
  pid: number;
  ppid: number;
  commandLine: string;
}

function processes(): ProcessInfo[] {
  return readdirSync("/proc")
    .filter((name) => /^\d+$/.test(name))
    .flatMap((name) => {
      try {
        const stat = readFileSync(`/proc/${name}/stat`, "utf8");
        const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
        if (fields[0] === "Z") return []; // exited, waiting to be reaped
        const commandLine = readFileSync(`/proc/${name}/cmdline`, "utf8").split("\0").join(" ");
        return [{ pid: Number(name), ppid: Number(fields[1]), commandLine }];
      } catch {
        return [];
      }
    });
}

function descendantsOf(pid: number): ProcessInfo[] {
  const all = processes();
  const found: ProcessInfo[] = [];
  let parents = new Set([pid]);
  while (parents.size > 0) {
    const children = all.filter((p) => parents.has(p.ppid));
    found.push(...children);
    parents = new Set(children.map((p) => p.pid));
  }
  return found;
}

/** Every FerretDB serving this folder, whoever started it. */
function ferretdbsOn(dataDir: string): number[] {
  return processes()
    .filter((p) => p.commandLine.includes(`--state-dir=${dataDir}`))
    .map((p) => p.pid);
}

const isAlive = (pid: number) => processes().some((p) => p.pid === pid);

async function until(what: string, check: () => boolean, timeoutMs = 30_000): Promise<void> {
  for (const deadline = Date.now() + timeoutMs; !check();) {
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs / 1000} s: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** The outer `npm test` run's npm_* variables would point a nested npm at this checkout. */
const WITHOUT_NPM_VARIABLES = Object.fromEntries(
  Object.keys(process.env)
    .filter((name) => name.toLowerCase().startsWith("npm_"))
    .map((name) => [name, undefined]),
);

interface RunningApp {
  npm: ServerProcess;
  launcher: number;
  server: number;
  ferretdb: number;
}

/** `npm start` in the folder, up and connected to its own FerretDB. */
async function npmStart(folder: Folder): Promise<RunningApp> {
  const npm = await spawnServer({
    command: ["npm", "start"],
    cwd: folder.dir,
    // The IDE bundle is not needed here; the example app is served (and built if stale).
    env: { ...WITHOUT_NPM_VARIABLES, GRAPHQL_IDE: "false" },
    readyTimeoutMs: GENEROUS_MS / 2,
  });
  await npm.waitForMessage(/^database connected/, 60_000);
  const tree = descendantsOf(npm.pid);
  const launcher = tree.find((p) => p.commandLine.includes("scripts/start.mjs"));
  const server = tree.find((p) => p.commandLine.includes("dist/index.js"));
  const ferretdbs = ferretdbsOn(folder.dataDir);
  expect(launcher).toBeDefined();
  expect(server).toBeDefined();
  expect(ferretdbs).toHaveLength(1);
  expect(tree.map((p) => p.pid)).toContain(ferretdbs[0]);
  return { npm, launcher: launcher!.pid, server: server!.pid, ferretdb: ferretdbs[0]! };
}

async function expectNothingLeft(folder: Folder, app: RunningApp): Promise<void> {
  await until(
    "no FerretDB on the folder, and no launcher or server left",
    () => ferretdbsOn(folder.dataDir).length === 0 && ![app.launcher, app.server].some(isAlive),
  );
}

async function signup(app: RunningApp) {
  const account = newAccount("kept");
  expectData(await app.npm.execute(SignupDocument, { input: account }));
  return account;
}

async function expectSignin(app: RunningApp, account: { username: string; password: string }) {
  const response = await app.npm.execute(SigninDocument, {
    input: { username: account.username, password: account.password },
  });
  expect(expectData(response).signin.user.username).toBe(account.username);
}

/** FerretDB started by hand on the folder, as a killed run of an older version left it. */
async function strayFerretdb(dataDir: string): Promise<number> {
  const binary = await locateFerretdb(() => undefined);
  if (!binary) throw new Error("no FerretDB binary");
  const port = await freePort();
  const child = spawn(
    binary,
    [
      "--handler=sqlite",
      `--sqlite-url=file:${dataDir}/`,
      `--listen-addr=127.0.0.1:${port}`,
      `--state-dir=${dataDir}`,
      "--debug-addr=-",
      "--telemetry=disable",
      "--log-level=warn",
    ],
    { stdio: "ignore", detached: true },
  );
  child.unref();
  strays.push(child.pid!);
  const accepts = () =>
    new Promise<boolean>((resolve) => {
      const socket = net.connect({ host: "127.0.0.1", port });
      socket.once("connect", () => (socket.destroy(), resolve(true)));
      socket.once("error", () => resolve(false));
    });
  for (let tries = 0; !(await accepts()); tries++) {
    if (tries > 300) throw new Error("the stray FerretDB never accepted connections");
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return child.pid!;
}

(process.platform === "linux" ? describe : describe.skip)(
  "one database server per data folder, however npm start ends",
  () => {
    afterEach(async () => {
      await killServerProcesses();
      for (const pid of strays.splice(0)) {
        try {
          process.kill(pid, "SIGKILL");
        } catch {
          // Gone, as it should be.
        }
      }
    });
    afterAll(async () => {
      for (const dir of folders) await fs.rm(dir, { recursive: true, force: true });
    });

    it.each([
      ["SIGTERM", "npm"],
      ["SIGKILL", "npm"],
      ["SIGKILL", "the node server"],
    ] as const)(
      "after %s to %s, nothing of the run is left and the next start finds the data",
      async (signal, target) => {
        const folder = await appFolder();
        const first = await npmStart(folder);
        const account = await signup(first);

        process.kill(target === "npm" ? first.npm.pid : first.server, signal);
        await first.npm.exited;
        await expectNothingLeft(folder, first);

        const next = await npmStart(folder);
        await expectSignin(next, account);
        await next.npm.stop("SIGTERM");
        await expectNothingLeft(folder, next);
      },
      GENEROUS_MS,
    );

    it.each([
      ["named in the folder's pid file", true],
      ["with no pid file, as an older version left it", false],
    ])(
      "a start that finds a FerretDB of a killed run on its folder (%s) stops it and runs only its own",
      async (_case, withPidFile) => {
        const folder = await appFolder();
        const first = await npmStart(folder);
        const account = await signup(first);
        await first.npm.stop("SIGTERM");
        await expectNothingLeft(folder, first);

        const stray = await strayFerretdb(folder.dataDir);
        if (withPidFile) {
          // Its owner is gone: a process that has exited.
          const deadOwner = spawnSync(process.execPath, ["-e", ""]).pid;
          await fs.writeFile(
            path.join(folder.dataDir, PID_FILE_NAME),
            JSON.stringify({ owner: { pid: deadOwner }, ferretdb: { pid: stray } }),
          );
        }

        const next = await npmStart(folder);
        expect(isAlive(stray)).toBe(false);
        expect(ferretdbsOn(folder.dataDir)).toEqual([next.ferretdb]);
        expect(next.npm.messages()).toEqual(
          expect.arrayContaining([expect.stringMatching(`^Stopping FerretDB \\(pid ${stray}\\)`)]),
        );
        await expectSignin(next, account);
        await next.npm.stop("SIGTERM");
        await expectNothingLeft(folder, next);
      },
      GENEROUS_MS,
    );

    it(
      "a second server on a folder in use refuses to start and leaves the first one serving",
      async () => {
        const folder = await appFolder();
        const first = await npmStart(folder);

        await expect(spawnServer({ cwd: folder.dir, readyTimeoutMs: 60_000 })).rejects.toThrow(
          /is in use by another server \(pid \d+\)/,
        );
        expect(ferretdbsOn(folder.dataDir)).toEqual([first.ferretdb]);
        const account = await signup(first);
        await expectSignin(first, account);
        expect(expectData(await first.npm.execute(PublicContentDocument)).publicContent).toBe(
          "Public Content.",
        );
        await first.npm.stop("SIGTERM");
        await expectNothingLeft(folder, first);
      },
      GENEROUS_MS,
    );
  },
);
