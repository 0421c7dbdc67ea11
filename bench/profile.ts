import { fork } from "node:child_process";
import { promises as fs } from "node:fs";
import os from "node:os";
import path from "node:path";
import autocannon from "autocannon";
import {
  databaseHelpers,
  DIST,
  newSession,
  productionSpec,
  ROOT,
  SERVER_NODE_FLAGS,
  signinBody,
} from "./one-server";
import type { FromServer, ServerSpec, ToServer } from "./protocol";

/**
 * `node dist/bench/bench/profile.js <publicContent|userContent|refresh|signin|bareApollo>
 * [seconds] [--node-flag ...] [VAR=value ...]`: one server process as the bench runs it
 * (production settings), given node flags and settings, loaded with one scenario (`signin`: a
 * storm over 40 accounts; `bareApollo`: the bench's bare Apollo Server reference, loaded like
 * publicContent, to hold our profile against). Prints its throughput, CPU per request, peak
 * RSS and each thread's share of a core. With `--cpu-prof` among the flags it also prints the
 * functions with the most self time and the share of each package. What README's Performance
 * section quotes for a missed target comes from here.
 */

const CONNECTIONS = 20;

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}
interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** Where a function lives: a package, node's internals, our code, or V8 itself. */
function ownerOf(url: string): string {
  if (url === "") return "(V8: GC, native, idle)";
  if (url.startsWith("node:")) return "node core";
  const modules = url.lastIndexOf("node_modules/");
  if (modules >= 0) {
    const rest = url.slice(modules + "node_modules/".length).split("/");
    return rest[0]!.startsWith("@") ? `${rest[0]}/${rest[1]}` : rest[0]!;
  }
  if (url.includes("/dist/")) return "this server (dist/)";
  return url;
}

/** CPU seconds (user + system) so far of each thread of a process, by thread id, from /proc. */
async function threadCpuSeconds(
  pid: number,
): Promise<Map<string, { name: string; seconds: number }>> {
  const ticksPerSecond = 100;
  const threads = new Map<string, { name: string; seconds: number }>();
  for (const tid of await fs.readdir(`/proc/${pid}/task`).catch(() => [] as string[])) {
    const stat = await fs.readFile(`/proc/${pid}/task/${tid}/stat`, "utf8").catch(() => "");
    const close = stat.lastIndexOf(")");
    if (close < 0) continue;
    const name = stat.slice(stat.indexOf("(") + 1, close);
    // Fields after the name: state is field 3, utime 14 and stime 15 (1-based, man 5 proc).
    const fields = stat.slice(close + 2).split(" ");
    const seconds = (Number(fields[11]) + Number(fields[12])) / ticksPerSecond;
    threads.set(tid, { name: tid === String(pid) ? "main" : name, seconds });
  }
  return threads;
}

/** Each busy thread's share of one core over the load. */
function threadShares(
  before: Map<string, { name: string; seconds: number }>,
  after: Map<string, { name: string; seconds: number }>,
  seconds: number,
): string {
  const shares = [...after]
    .map(([tid, { name, seconds: total }]) => ({
      label: `${name} ${tid}`,
      share: (total - (before.get(tid)?.seconds ?? 0)) / seconds,
    }))
    .filter((thread) => thread.share >= 0.01)
    .sort((a, b) => b.share - a.share);
  return `CPU by thread (share of one core): ${shares
    .map((t) => `${t.label} ${(100 * t.share).toFixed(0)}%`)
    .join(", ")}`;
}

/** Only the samples of the last `seconds` before the end: the load, not the start-up. */
function summarize(profile: CpuProfile, seconds: number): string {
  const hits = new Map<number, number>();
  const from = profile.endTime - seconds * 1e6 - 500_000;
  let time = profile.startTime;
  let total = 0;
  for (const [i, id] of profile.samples.entries()) {
    time += profile.timeDeltas[i] ?? 0;
    if (time < from) continue;
    hits.set(id, (hits.get(id) ?? 0) + 1);
    total += 1;
  }
  const byFunction = new Map<string, number>();
  const byOwner = new Map<string, number>();
  for (const node of profile.nodes) {
    const count = hits.get(node.id) ?? 0;
    if (count === 0) continue;
    const { functionName, url, lineNumber } = node.callFrame;
    const where =
      url === ""
        ? ""
        : ` ${url.replace(/^.*node_modules\//, "").replace(ROOT, ".")}:${lineNumber + 1}`;
    const key = `${functionName || "(anonymous)"}${where}`;
    byFunction.set(key, (byFunction.get(key) ?? 0) + count);
    const owner = ownerOf(url);
    byOwner.set(owner, (byOwner.get(owner) ?? 0) + count);
  }
  const pct = (count: number) => `${((100 * count) / total).toFixed(1)}%`;
  const top = (map: Map<string, number>, n: number) =>
    [...map].sort((a, b) => b[1] - a[1]).slice(0, n);
  return [
    `${total} samples over the last ${seconds} s of load`,
    "",
    "| self time | where |",
    "|---|---|",
    ...top(byOwner, 12).map(([owner, count]) => `| ${pct(count)} | ${owner} |`),
    "",
    "| self time | function |",
    "|---|---|",
    ...top(byFunction, 20).map(([fn, count]) => `| ${pct(count)} | \`${fn}\` |`),
  ].join("\n");
}

async function main(): Promise<void> {
  const [scenario = "publicContent", secondsText = "10", ...rest] = process.argv.slice(2);
  const seconds = Number(secondsText);
  const nodeFlags = rest.filter((arg) => arg.startsWith("--"));
  const settings = rest.filter((arg) => !arg.startsWith("--"));
  const extraEnv = Object.fromEntries(settings.map((s) => s.split("=", 2) as [string, string]));
  const cpuProfile = nodeFlags.includes("--cpu-prof");
  const { startEmbeddedDatabase, withDatabaseName } = await databaseHelpers();
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), "graphql-jwt-auth-profile-"));
  const profileDir = await fs.mkdtemp(path.join(os.tmpdir(), "graphql-jwt-auth-cpuprofile-"));
  const database = await startEmbeddedDatabase({ dataDir, log: () => undefined });
  try {
    const bare = scenario === "bareApollo";
    const spec: ServerSpec = bare
      ? { mode: "bare-apollo", distDir: DIST, env: {}, passwordWorkers: 0 }
      : productionSpec(withDatabaseName(database.uri, "profile"), extraEnv);
    const child = fork(path.join(__dirname, "server-process.js"), [], {
      env: { ...process.env, BENCH_SERVER: JSON.stringify(spec) },
      execArgv: [
        // The bench runs the bare references with node's defaults, as their docs do.
        ...(bare ? [] : SERVER_NODE_FLAGS),
        ...nodeFlags,
        ...(cpuProfile ? [`--cpu-prof-dir=${profileDir}`] : []),
      ],
      stdio: ["ignore", "ignore", "inherit", "ipc"],
    });
    const url = await new Promise<string>((resolve, reject) => {
      child.once("message", (message: FromServer) =>
        message.type === "ready"
          ? resolve(message.url)
          : reject(new Error(JSON.stringify(message))),
      );
    });

    let options: autocannon.Options;
    /** Answers without a new token (refresh): a spent or missing one. */
    let failed = 0;
    if (scenario === "refresh") {
      const available: string[] = [];
      for (let i = 0; i < CONNECTIONS + 10; i++) {
        available.push((await newSession(url, `p_${i}`)).refreshToken);
      }
      options = {
        url,
        method: "POST",
        connections: CONNECTIONS,
        duration: seconds,
        headers: { "content-type": "application/json" },
        requests: [
          {
            setupRequest: (request) => ({
              ...request,
              body: JSON.stringify({
                query:
                  "mutation($t: String!) { refreshToken(refreshToken: $t) { accessToken refreshToken } }",
                variables: { t: available.shift() ?? "none-left" },
              }),
            }),
            onResponse: (_status, body) => {
              const token = (
                JSON.parse(body) as { data?: { refreshToken?: { refreshToken: string } } }
              ).data?.refreshToken?.refreshToken;
              if (token) available.push(token);
              else failed += 1;
            },
          },
        ],
      };
    } else if (scenario === "signin") {
      // Forty accounts in turn, as the bench's storm does: twenty parallel signins of one
      // account would be locked out by the throttle.
      const accounts = Array.from({ length: 40 }, (_, i) => `p_signin_${i}`);
      for (const name of accounts) await newSession(url, name);
      let next = 0;
      options = {
        url,
        method: "POST",
        connections: CONNECTIONS,
        duration: seconds,
        timeout: 60,
        headers: { "content-type": "application/json" },
        requests: [
          {
            setupRequest: (request) => ({
              ...request,
              body: signinBody(accounts[next++ % accounts.length]!),
            }),
            onResponse: (status, body) => {
              if (status !== 200 || !body.includes('"accessToken"')) failed += 1;
            },
          },
        ],
      };
    } else if (scenario === "userContent") {
      const { accessToken } = await newSession(url, "p_reader");
      options = {
        url,
        method: "POST",
        connections: CONNECTIONS,
        duration: seconds,
        headers: {
          "content-type": "application/json",
          authorization: `Bearer ${accessToken}`,
        },
        body: JSON.stringify({ query: "query UserContent { userContent }" }),
      };
    } else {
      options = {
        url,
        method: "POST",
        connections: CONNECTIONS,
        duration: seconds,
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ query: "query PublicContent { publicContent }" }),
      };
    }
    const ask = <T extends FromServer["type"]>(message: ToServer, type: T) =>
      new Promise<Extract<FromServer, { type: T }>>((resolve) => {
        const onMessage = (reply: FromServer) => {
          if (reply.type !== type) return;
          child.off("message", onMessage);
          resolve(reply as Extract<FromServer, { type: T }>);
        };
        child.on("message", onMessage);
        child.send(message);
      });
    // A second of warm-up (JIT) first, as the bench does; not for refresh, where the requests
    // in flight when it ends would spend their sessions, nor for signin, whose answers take
    // seconds.
    if (scenario !== "refresh" && scenario !== "signin") {
      await autocannon({ ...options, duration: 1 });
    }
    await ask({ type: "peak-rss", reset: true }, "peak-rss");
    const cpuBefore = (await ask({ type: "cpu" }, "cpu")).micros;
    const threadsBefore = await threadCpuSeconds(child.pid!);
    const loadStarted = performance.now();
    const result = await autocannon(options);
    const threadsAfter = await threadCpuSeconds(child.pid!);
    const loadSeconds = (performance.now() - loadStarted) / 1000;
    const cpuMs = ((await ask({ type: "cpu" }, "cpu")).micros - cpuBefore) / 1000;
    const peak = (await ask({ type: "peak-rss", reset: false }, "peak-rss")).bytes;
    process.stdout.write(
      `${scenario} ${[...nodeFlags, ...settings].join(" ")}: ${result.requests.average} req/s, ` +
        `${(cpuMs / Math.max(1, result.requests.total)).toFixed(3)} ms CPU per request, ` +
        `peak RSS ${(peak / 1024 / 1024).toFixed(1)} MB, ` +
        `${result.non2xx + result.errors + failed} errors, load average ${os.loadavg()[0]!.toFixed(1)}\n` +
        `${threadShares(threadsBefore, threadsAfter, loadSeconds)}\n`,
    );
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.send({ type: "stop" } satisfies ToServer);
    await exited;
    if (!cpuProfile) return;
    // One file per thread; the main thread's has thread id 0 (the hashing threads have their own).
    const file = (await fs.readdir(profileDir)).find((name) => name.includes(`.${child.pid}.0.`));
    if (!file) throw new Error("no profile written");
    const profile = JSON.parse(
      await fs.readFile(path.join(profileDir, file), "utf8"),
    ) as CpuProfile;
    process.stdout.write(
      `${summarize(profile, seconds)}\n(profile: ${path.join(profileDir, file)})\n`,
    );
  } finally {
    await database.stop().catch(() => undefined);
    await fs.rm(dataDir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
