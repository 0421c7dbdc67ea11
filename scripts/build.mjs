// Builds only what is stale. Each step's inputs (its source folders and files, its npm script,
// package-lock.json) are hashed; the hash is stamped into the step's output folder after a
// successful build, and a later run whose hash matches the stamp skips the step. Content
// hashes, not mtimes: a checkout, a branch switch or a copy that touches every file without
// changing one does not make everything stale.
//
//   node scripts/build.mjs [--force] [server] [ide] [web] [codegen]   (default: server ide web)
//
// scripts/start.mjs and scripts/setup.mjs use buildStale() from here.
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { promises as fs } from "node:fs";
import os from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import process from "node:process";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

/** What each step builds from what. `script` is the npm script that builds it. */
export const STEPS = {
  server: {
    label: "the server (dist/)",
    script: "build:server",
    inputs: ["src", "tsconfig.json", "tsconfig.build.json"],
    output: "dist/index.js",
  },
  ide: {
    label: "the IDE bundle (ide/dist/)",
    script: "build:ide",
    inputs: ["ide"],
    output: "ide/dist/index.html",
  },
  web: {
    label: "the example app (examples/web/dist/)",
    script: "build:web",
    inputs: ["examples/web", "schema.graphql"],
    output: "examples/web/dist/index.html",
  },
  codegen: {
    label: "the tests' typed operations (tests/generated/)",
    script: "codegen",
    inputs: ["codegen.yml", "schema.graphql", "tests/operations"],
    output: "tests/generated/graphql.ts",
  },
};

/** Build outputs and dependencies inside input folders, which must not count as inputs. */
const SKIPPED = new Set(["dist", "node_modules", "generated"]);

async function hashInto(hash, file) {
  const stat = await fs.stat(file).catch(() => undefined);
  if (!stat) {
    hash.update(`missing ${path.relative(ROOT, file)}\0`);
  } else if (stat.isDirectory()) {
    const names = (await fs.readdir(file)).filter((n) => !SKIPPED.has(n) && !n.startsWith("."));
    for (const name of names.sort()) await hashInto(hash, path.join(file, name));
  } else {
    hash.update(`${path.relative(ROOT, file)}\0`);
    hash.update(await fs.readFile(file));
    hash.update("\0");
  }
}

async function inputHash(step, packageJson) {
  const hash = createHash("sha256");
  hash.update(`${step.script}: ${packageJson.scripts?.[step.script]}\0`);
  // A dependency update can change what a compiler or bundler makes of the same sources.
  for (const input of [...step.inputs, "package-lock.json"]) {
    await hashInto(hash, path.join(ROOT, input));
  }
  return hash.digest("hex");
}

const stampFile = (step) => path.join(ROOT, path.dirname(step.output), ".build-stamp");

async function isFresh(step, hash) {
  const [stamp, output] = await Promise.all([
    fs.readFile(stampFile(step), "utf8").catch(() => undefined),
    fs.stat(path.join(ROOT, step.output)).catch(() => undefined),
  ]);
  return output !== undefined && stamp?.trim() === hash;
}

/** `npm run <script>` with its output on stderr (stdout is the server's log), in its own group. */
function runScript(script, signal) {
  // Under npm, the very npm that runs us (npx sets this to npx-cli.js: not usable here).
  const npm = process.env.npm_execpath;
  const [command, args] = npm?.endsWith("npm-cli.js")
    ? [process.execPath, [npm, "run", "--silent", script]]
    : ["npm", ["run", "--silent", script]];
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: ROOT,
      stdio: ["ignore", process.stderr, process.stderr],
      // Its own process group, so an abort stops the whole step (sh, tsc, vite), not just npm.
      detached: true,
    });
    const abort = () => {
      try {
        process.kill(-child.pid, "SIGTERM");
      } catch {
        // Already gone.
      }
    };
    signal?.addEventListener("abort", abort, { once: true });
    child.once("error", reject);
    child.once("exit", (code, killedBy) => {
      signal?.removeEventListener("abort", abort);
      if (signal?.aborted) reject(signal.reason ?? new Error("aborted"));
      else if (code === 0) resolve();
      else reject(new Error(`npm run ${script} failed (${killedBy ?? `exit code ${code}`})`));
    });
  });
}

/**
 * One builder at a time per checkout: two starts (or a start and `npm test`) building into the
 * same folders would each read the other's half-written files. A lock whose process is gone is
 * taken over.
 */
async function withLock(log, signal, work) {
  const key = createHash("sha256").update(ROOT).digest("hex").slice(0, 16);
  const lock = path.join(os.tmpdir(), `graphql-jwt-auth-build-${key}.lock`);
  let noticed = false;
  for (;;) {
    try {
      await fs.writeFile(lock, String(process.pid), { flag: "wx" });
      break;
    } catch (error) {
      if (error.code !== "EEXIST") throw error;
    }
    const holder = Number(await fs.readFile(lock, "utf8").catch(() => "0"));
    let alive;
    try {
      alive = holder > 0 && process.kill(holder, 0);
    } catch (error) {
      alive = error.code === "EPERM";
    }
    if (!alive) {
      await fs.rm(lock, { force: true });
      continue;
    }
    if (!noticed) log(`waiting for the build running in process ${holder}`);
    noticed = true;
    signal?.throwIfAborted();
    await sleep(300);
  }
  try {
    return await work();
  } finally {
    await fs.rm(lock, { force: true });
  }
}

/** True when the named step's output was built from its current inputs. */
export async function isUpToDate(name) {
  const packageJson = JSON.parse(await fs.readFile(path.join(ROOT, "package.json"), "utf8"));
  return isFresh(STEPS[name], await inputHash(STEPS[name], packageJson));
}

/**
 * Builds each named step whose inputs changed since its last build (every one with `force`).
 * Returns the labels of the steps it built.
 */
export async function buildStale(names, { force = false, log = () => {}, signal } = {}) {
  return withLock(log, signal, async () => {
    const packageJson = JSON.parse(await fs.readFile(path.join(ROOT, "package.json"), "utf8"));
    const built = [];
    for (const name of names) {
      const step = STEPS[name];
      if (!step) throw new Error(`unknown build step "${name}"`);
      const hash = await inputHash(step, packageJson);
      if (!force && (await isFresh(step, hash))) continue;
      const started = performance.now();
      const stamped = await fs.stat(stampFile(step)).catch(() => undefined);
      log(`building ${step.label}: ${stamped ? "its sources changed" : "not built here yet"}...`);
      // A failed or interrupted build leaves no stamp, so the next run builds again.
      await fs.rm(stampFile(step), { force: true });
      await runScript(step.script, signal);
      await fs.writeFile(stampFile(step), `${hash}\n`);
      log(`built ${step.label} in ${((performance.now() - started) / 1000).toFixed(1)} s`);
      built.push(step.label);
    }
    return built;
  });
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const names = args.filter((arg) => !arg.startsWith("--"));
  const started = performance.now();
  buildStale(names.length > 0 ? names : ["server", "ide", "web"], {
    force: args.includes("--force"),
    log: (line) => process.stderr.write(`build: ${line}\n`),
  }).then(
    (built) => {
      const seconds = ((performance.now() - started) / 1000).toFixed(1);
      if (built.length === 0) process.stderr.write(`build: everything up to date (${seconds} s)\n`);
    },
    (error) => {
      process.stderr.write(`build: ${error.message}\n`);
      process.exit(1);
    },
  );
}
