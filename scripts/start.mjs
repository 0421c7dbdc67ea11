// `npm start`: checks the settings, builds only what changed, runs the server, and passes every
// signal on to it.
//
// package.json runs this as the single command `node scripts/start.mjs`, which npm's `sh -c`
// execs, so a SIGTERM or SIGINT sent to npm reaches this process, and this process hands it to
// the server. The server gets an IPC channel: when this process dies, however it dies, the
// channel closes and the server shuts down. If npm itself is killed, this process notices its
// parent changed and stops the server. The server's embedded FerretDB dies with the server
// (src/db/ferretdb.ts). What this script prints goes to stderr; stdout is the server's JSON log.
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { performance } from "node:perf_hooks";
import process from "node:process";
import { setInterval } from "node:timers";
import { constants as osConstants } from "node:os";
import { ROOT, buildStale, isUpToDate } from "./build.mjs";
import { checkConfig } from "./check-config.mjs";

const started = performance.now();
const say = (line) => process.stderr.write(`start: ${line}\n`);
const seconds = () => `${((performance.now() - started) / 1000).toFixed(1)} s`;

// 1. Settings, before anything is built or started: a typo costs a second, not a build.
const { config, problems } = checkConfig(ROOT, {
  compiled: (await isUpToDate("server")) ? path.join(ROOT, "dist", "config.js") : undefined,
});
if (problems) {
  for (const problem of problems) process.stderr.write(`config: ${problem}\n`);
  process.exit(1);
}

// Signals and the loss of our parent stop whatever runs: a build step, then the server.
const building = new globalThis.AbortController();
let server;
let stopSignal;
const stop = (signal) => {
  stopSignal ??= signal;
  if (server) server.kill(signal);
  else building.abort(new Error(`stopped by ${signal}`));
};
for (const signal of ["SIGTERM", "SIGINT", "SIGHUP"]) process.on(signal, stop);
// npm killed with SIGKILL cannot tell us; the kernel gives us a new parent instead.
const parent = process.ppid;
setInterval(() => process.ppid !== parent && stop("SIGTERM"), 500).unref();

// 2. Only what changed, and only what this server will serve.
const steps = [
  "server",
  ...(config.graphql.ide ? ["ide"] : []),
  ...(config.nodeEnv !== "production" ? ["web"] : []),
];
try {
  const built = await buildStale(steps, { log: say, signal: building.signal });
  if (built.length === 0) say(`settings checked, nothing to rebuild (${seconds()})`);
  else say(`settings checked, built what changed (${seconds()})`);
} catch (error) {
  if (stopSignal) process.exit(128 + osConstants.signals[stopSignal]);
  say(error.message);
  process.exit(1);
}
if (stopSignal) process.exit(128 + osConstants.signals[stopSignal]);

// 3. The server, with an IPC channel it watches (see src/index.ts), and the node flags in
// package.json's config.serverNodeFlags (the bench starts its servers with them too):
// --max-semi-space-size=2 keeps V8's young generation at 2 MB per half instead of 16, which
// cut the server's peak RSS under load by about 25 MB (160 → 136 MB in paired runs of
// `node dist/bench/bench/profile.js publicContent`) at no CPU per request we could measure.
// --heap-growing-percent=20 starts a full collection once the old generation has grown 20%
// past what survived the last one, instead of V8's default of letting it double: under load
// the old generation held 190 MB of which 45 MB were alive (a heap snapshot). With it, the
// server stays near 125-140 MB (`node dist/bench/bench/memory-probe.js`); a soft rule, not a
// cap that could end the process with an out-of-memory error.
// NODE_OPTIONS still applies, and a flag given there wins.
const { serverNodeFlags = [] } =
  JSON.parse(readFileSync(path.join(ROOT, "package.json"), "utf8")).config ?? {};
const nodeOptions = process.env.NODE_OPTIONS ?? "";
const nodeFlags = serverNodeFlags.filter((flag) => !nodeOptions.includes(flag.split("=")[0]));
server = spawn(process.execPath, [...nodeFlags, path.join(ROOT, "dist", "index.js")], {
  stdio: ["ignore", "inherit", "inherit", "ipc"],
});
server.once("exit", async (code, signal) => {
  if (!config.mongodbUri) {
    // A server killed before its FerretDB was set to die with it, or where setpriv is missing,
    // leaves that FerretDB running: stop it now rather than at the next start.
    try {
      const { defaultDataDir, stopOrphanedFerretdb } = createRequire(import.meta.url)(
        path.join(ROOT, "dist", "db", "embedded-database.js"),
      );
      await stopOrphanedFerretdb(defaultDataDir(), say);
    } catch (error) {
      say(`could not check for a leftover FerretDB: ${error.message}`);
    }
  }
  if (signal) {
    // Die of the same signal, so npm and shells report what happened to the server.
    for (const name of ["SIGTERM", "SIGINT", "SIGHUP"]) process.removeAllListeners(name);
    process.kill(process.pid, signal);
  } else {
    process.exit(code ?? 1);
  }
});
