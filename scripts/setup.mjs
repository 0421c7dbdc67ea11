// `npm run setup`: everything `npm start` and `npm test` would otherwise build or install on
// their first run, done once up front (for a CI image, or a first-time user who would rather
// wait once): the server, both Vite bundles, the tests' typed operations, the embedded
// FerretDB (minutes: built from source with Go), and Debian's Chromium for the browser tests.
// Steps already done are skipped, so running it again is quick.
import { spawn } from "node:child_process";
import { createRequire } from "node:module";
import path from "node:path";
import { performance } from "node:perf_hooks";
import process from "node:process";
import { ROOT, buildStale } from "./build.mjs";

const started = performance.now();
const say = (line) => process.stderr.write(`setup: ${line}\n`);
const elapsed = (from) => `${((performance.now() - from) / 1000).toFixed(1)} s`;
const failures = [];

async function step(name, work) {
  const stepStarted = performance.now();
  say(`${name}...`);
  try {
    await work();
    say(`${name}: done (${elapsed(stepStarted)})`);
  } catch (error) {
    say(`${name}: FAILED: ${error.message}`);
    failures.push(name);
  }
}

await step("build the server, the IDE, the example app and the tests' typed operations", () =>
  buildStale(["server", "ide", "web", "codegen"], { log: say }),
);

if (!failures.length) {
  await step("build the embedded database (FerretDB)", async () => {
    const { locateFerretdb } = createRequire(import.meta.url)(
      path.join(ROOT, "dist", "db", "ferretdb.js"),
    );
    const binary = await locateFerretdb(say);
    if (!binary)
      throw new Error(
        "Go is not installed: install it, or set MONGODB_URI to use your own MongoDB",
      );
    say(`FerretDB: ${binary}`);
  });
}

if (!failures.length) {
  // Not installed here: that needs root (.ci/run does it with scripts/install-postgresql.sh).
  await step(
    "find PostgreSQL (FerretDB on PostgreSQL: tests, EMBEDDED_DB_BACKEND=postgres)",
    async () => {
      const { locatePostgresBin } = createRequire(import.meta.url)(
        path.join(ROOT, "dist", "db", "postgres-cluster.js"),
      );
      const bin = await locatePostgresBin();
      if (!bin)
        throw new Error(
          "initdb is not installed: `bash scripts/install-postgresql.sh` (apt-get install postgresql); " +
            "tests/postgres-backend.test.ts needs it",
        );
      say(`PostgreSQL: ${bin}`);
    },
  );
}

await step(
  "install Chromium for the browser tests (scripts/install-chromium.sh)",
  () =>
    new Promise((resolve, reject) => {
      const child = spawn("bash", [path.join(ROOT, "scripts", "install-chromium.sh")], {
        cwd: ROOT,
        stdio: ["ignore", process.stderr, process.stderr],
      });
      child.once("error", reject);
      child.once("exit", (code) =>
        code === 0
          ? resolve()
          : reject(new Error(`exit code ${code} (it needs apt-get and root or sudo)`)),
      );
    }),
);

if (failures.length) {
  say(`${failures.length} step(s) failed after ${elapsed(started)}: ${failures.join("; ")}`);
  process.exit(1);
}
say(
  `everything is ready (${elapsed(started)}): npm start and npm test will not build anything first`,
);
