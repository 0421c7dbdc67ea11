import { fork, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { promises as fs } from "node:fs";
import os from "node:os";
import path from "node:path";
import autocannon from "autocannon";
import bcrypt from "bcryptjs";
import { parse, validate } from "graphql";
import * as prettier from "prettier";
import type * as ConnectionModule from "../src/db/connection";
import type * as PasswordsModule from "../src/auth/passwords";
import type * as EmbeddedDatabaseModule from "../src/db/embedded-database";
import type * as OperationLimitsModule from "../src/graphql/operation-limits";
import type * as ServerModule from "../src/server";
import {
  MAX_TOKENS,
  doublingFragments,
  fragmentChain,
  fragmentsSpreadingAllPrevious,
  largestAdmitted,
  wideSpreads,
} from "../tests/setup/hostile-documents";
import { DIST, ROOT, SERVER_NODE_FLAGS } from "./one-server";
import type { FromServer, ServerSpec, ToServer } from "./protocol";
import { timingTargets } from "./timing-targets";

/**
 * `npm run bench`: loads the compiled server (dist/) with autocannon and writes
 * bench/results/latest.{md,json}. Each server runs in a child process of its own so the load
 * generator's CPU and memory are not counted as the server's; the embedded database is a third
 * process. Targets are reported, never enforced: a shared machine can miss one by noise.
 */

// This file runs as dist/bench/bench/run.js.
const SERVER_SCRIPT = path.join(__dirname, "server-process.js");
const RESULTS_DIR = path.join(ROOT, "bench", "results");

const CONNECTIONS = 20;
const SECONDS = 8;
const WARMUP_SECONDS = 1;
/** Throughput rows are measured in this many slices, taking turns with each other. */
const TURNS = 4;
const STORM_SECONDS = 10;
/** Signins finish only after one compare, so the first second of a storm is ramp-up. */
const STORM_SETTLE_SECONDS = 1;
/** A probe answer slower than this counts as an error: the server was not answering. */
const PROBE_TIMEOUT_SECONDS = 4;
/** The latency probe sends a steady, moderate load, so its p99 shows stalls, not queueing. */
const PROBE_RATE = 200;
const PROBE_CONNECTIONS = 10;
const ROUNDS = Number(process.env.BCRYPT_ROUNDS ?? "12");
/**
 * refreshToken before the second performance round (issue 10), on this machine: the run of
 * 2026-11-23, express and all. The target is twice that.
 */
const REFRESH_BASELINE = { reqPerSec: 136, run: "2026-11-23" };
const CORES = os.availableParallelism();

/**
 * A storm is many users signing in, not one: the signin throttle counts an account's attempts
 * still in flight as failures, so 20 parallel signins of one account would lock it (as they
 * should). Twice as many accounts as connections keeps each account to one attempt at a time.
 */
const USERS = Array.from({ length: 2 * CONNECTIONS }, (_, i) => ({
  username: `bench_user_${i}`,
  email: `bench_user_${i}@example.com`,
  password: `bench-password-${i}`,
}));
const USER = USERS[0]!;
const ADMIN = {
  username: "bench_admin",
  email: "bench_admin@example.com",
  password: "bench-admin-password-1",
};

const QUERY = {
  publicContent: "query PublicContent { publicContent }",
  userContent: "query UserContent { userContent }",
  adminContent: "query AdminContent { adminContent }",
  signup: "mutation Signup($input: SignupInput!) { signup(input: $input) { id } }",
  signin:
    "mutation Signin($input: SigninInput!) { signin(input: $input) { accessToken refreshToken } }",
  refresh:
    "mutation Refresh($token: String!) { refreshToken(refreshToken: $token) { accessToken refreshToken } }",
};

const log = (line: string) => process.stdout.write(`${line}\n`);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const round = (value: number, digits = 0) => Number(value.toFixed(digits));
const mb = (bytes: number) => round(bytes / 1024 / 1024, 1);

// ---------------------------------------------------------------------------------------------
// Server processes

class ServerProcess {
  private constructor(
    readonly name: string,
    readonly url: string,
    private readonly child: ChildProcess,
  ) {}

  static start(name: string, spec: ServerSpec): Promise<ServerProcess> {
    const child = fork(SERVER_SCRIPT, [], {
      env: { ...process.env, BENCH_SERVER: JSON.stringify(spec) },
      // What `npm start` gives the server (scripts/start.mjs), so RSS is the default's.
      execArgv: spec.mode === "apollo" ? [...SERVER_NODE_FLAGS] : [],
      // stdout carries the server's per-request JSON log: written, as in production, and dropped.
      stdio: ["ignore", "ignore", "inherit", "ipc"],
    });
    return new Promise((resolve, reject) => {
      child.once("message", (message: FromServer) => {
        if (message.type === "ready") resolve(new ServerProcess(name, message.url, child));
        else reject(new Error(`${name} failed to start: ${JSON.stringify(message)}`));
      });
      child.once("exit", (code) =>
        reject(new Error(`${name} exited (${code}) before it was ready`)),
      );
    });
  }

  /** Peak RSS since the last reset, sampled inside the server process. */
  async peakRss(reset: boolean): Promise<number> {
    const answer = await this.ask({ type: "peak-rss", reset }, "peak-rss");
    return answer.bytes;
  }

  /** Where the server's memory is right now: RSS, heap, and each V8 heap space's size. */
  async memory(): Promise<{ usage: Record<string, number>; heapSpaces: Record<string, number> }> {
    const { usage, heapSpaces } = await this.ask({ type: "memory" }, "memory");
    return { usage, heapSpaces };
  }

  /** CPU time the server process has used so far (user + system), in milliseconds. */
  async cpuMs(): Promise<number> {
    const answer = await this.ask({ type: "cpu" }, "cpu");
    return answer.micros / 1000;
  }

  private ask<T extends FromServer["type"]>(
    message: ToServer,
    answer: T,
  ): Promise<Extract<FromServer, { type: T }>> {
    return new Promise((resolve) => {
      const onMessage = (reply: FromServer) => {
        if (reply.type !== answer) return;
        this.child.off("message", onMessage);
        resolve(reply as Extract<FromServer, { type: T }>);
      };
      this.child.on("message", onMessage);
      this.send(message);
    });
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((resolve) => this.child.once("exit", resolve));
    this.send({ type: "stop" });
    const timer = setTimeout(() => this.child.kill("SIGKILL"), 10_000);
    await exited;
    clearTimeout(timer);
  }

  private send(message: ToServer): void {
    this.child.send(message);
  }
}

// ---------------------------------------------------------------------------------------------
// Requests

interface GraphQLBody {
  data?: Record<string, unknown> | null;
  errors?: { message: string; extensions?: { code?: string } }[];
}

const requestBody = (query: string, variables?: Record<string, unknown>) =>
  JSON.stringify(variables ? { query, variables } : { query });

async function graphql(url: string, body: string, token?: string): Promise<GraphQLBody> {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (token) headers.authorization = `Bearer ${token}`;
  const response = await fetch(url, { method: "POST", headers, body });
  const parsed = (await response.json()) as GraphQLBody;
  if (parsed.errors?.length) throw new Error(`${url}: ${JSON.stringify(parsed.errors)}`);
  return parsed;
}

async function rawResponse(url: string, body: string, token?: string): Promise<string> {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (token) headers.authorization = `Bearer ${token}`;
  return (await fetch(url, { method: "POST", headers, body })).text();
}

interface Tokens {
  accessToken: string;
  refreshToken: string;
}

function signinBody(account: { username: string; password: string }): string {
  return requestBody(QUERY.signin, {
    input: { username: account.username, password: account.password },
  });
}

async function signin(url: string, account: { username: string; password: string }) {
  const body = await graphql(url, signinBody(account));
  return body.data?.signin as Tokens;
}

/** The tokens of a signin or refresh answer, or undefined for an error. */
function tokensIn(body: string, field: "signin" | "refreshToken"): Tokens | undefined {
  try {
    const parsed = JSON.parse(body) as GraphQLBody;
    if (parsed.errors?.length) return undefined;
    return parsed.data?.[field] as Tokens | undefined;
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// Load

interface Row {
  step: number;
  scenario: string;
  server: string;
  connections: number;
  /** Fixed request rate for latency probes; undefined means as fast as the server answers. */
  rate: number | undefined;
  seconds: number;
  reqPerSec: number;
  p50Ms: number;
  p99Ms: number;
  /** Requests given up on: their latency is not in p50/p99, which then understate it. */
  timeouts: number;
  errors: number;
  peakRssMB: number;
  ratio: number | undefined;
  ratioOf: string;
  /** The first failed answer, to tell a timeout from a refusal. */
  firstError?: string;
  /** The server process's CPU time over the row divided by the requests answered. */
  cpuMsPerRequest?: number;
}

function loadOptions(url: string, extra: Partial<autocannon.Options>): autocannon.Options {
  return {
    url,
    method: "POST",
    headers: { "content-type": "application/json" },
    connections: CONNECTIONS,
    duration: SECONDS,
    ...extra,
  };
}

function errorsOf(result: autocannon.Result): number {
  return result.errors + result.non2xx + result.mismatches;
}

async function measure(
  server: ServerProcess,
  options: autocannon.Options,
  warmup = true,
): Promise<{ result: autocannon.Result; peakRss: number }> {
  if (warmup) await autocannon({ ...options, duration: WARMUP_SECONDS });
  await server.peakRss(true);
  const result = await autocannon(options);
  return { result, peakRss: await server.peakRss(false) };
}

/** What autocannon returns with skipAggregateResult: histograms still encoded, to be merged. */
interface PartialResult {
  totalCompletedRequests: number;
  duration: number;
}

// @types/autocannon does not declare aggregateResult, which merges the latency histograms of
// several runs (autocannon ≥ 7.4 exports it).
const { aggregateResult } = autocannon as unknown as {
  aggregateResult(results: PartialResult[], options: autocannon.Options): autocannon.Result;
};

/**
 * Loads several targets in turns (TURNS slices each, SECONDS in all per target), so that
 * other work on a shared machine, which comes and goes, weighs on each of them alike and
 * their ratios stay meaningful. Peak RSS is per server over the whole measurement.
 */
async function measureInTurns(
  loads: { server: ServerProcess; options: autocannon.Options }[],
): Promise<{ result: autocannon.Result; peakRss: number; cpuMsPerRequest: number }[]> {
  const servers = [...new Set(loads.map((load) => load.server))];
  for (const load of loads) await autocannon({ ...load.options, duration: WARMUP_SECONDS });
  for (const server of servers) await server.peakRss(true);
  const parts: PartialResult[][] = loads.map(() => []);
  // CPU time per request is what other work on the machine distorts least.
  const cpuMs = loads.map(() => 0);
  for (let turn = 0; turn < TURNS; turn++) {
    // Every other turn runs the rows in reverse, so that no row always follows the same
    // neighbour (whatever state of the cores and caches its slice leaves behind).
    for (let k = 0; k < loads.length; k++) {
      const i = turn % 2 === 0 ? k : loads.length - 1 - k;
      const load = loads[i]!;
      const options = { ...load.options, duration: SECONDS / TURNS, skipAggregateResult: true };
      const cpuBefore = await load.server.cpuMs();
      parts[i]!.push((await autocannon(options)) as unknown as PartialResult);
      cpuMs[i]! += (await load.server.cpuMs()) - cpuBefore;
    }
  }
  const peaks = new Map<ServerProcess, number>();
  for (const server of servers) peaks.set(server, await server.peakRss(false));
  return loads.map((load, i) => {
    const result = aggregateResult(parts[i]!, load.options);
    const completed = parts[i]!.reduce((sum, part) => sum + part.totalCompletedRequests, 0);
    const seconds = parts[i]!.reduce((sum, part) => sum + part.duration, 0);
    result.requests.average = completed / seconds;
    return {
      result,
      peakRss: peaks.get(load.server)!,
      cpuMsPerRequest: cpuMs[i]! / Math.max(1, completed),
    };
  });
}

/** Counts good answers over the run after its ramp-up, for work that takes seconds per request. */
function steadyRate() {
  const done: number[] = [];
  let started = 0;
  return {
    start() {
      started = performance.now();
    },
    record() {
      done.push(performance.now());
    },
    perSecond(seconds: number): number {
      const from = started + STORM_SETTLE_SECONDS * 1000;
      const to = started + seconds * 1000;
      return done.filter((t) => t >= from && t <= to).length / (seconds - STORM_SETTLE_SECONDS);
    },
  };
}

/** A signin storm: every connection signs in again as soon as it has an answer. */
async function signinStorm(server: ServerProcess, seconds: number, keep?: Tokens[]) {
  const rate = steadyRate();
  let failed = 0;
  let firstError: string | undefined;
  let next = 0;
  const options = loadOptions(server.url, {
    duration: seconds,
    // 20 signins queue behind a few bcrypt threads: answers take seconds, by design.
    timeout: 60,
    requests: [
      {
        setupRequest: (request) => ({
          ...request,
          body: signinBody(USERS[next++ % USERS.length]!),
        }),
        onResponse: (status, body) => {
          const tokens = status === 200 ? tokensIn(body, "signin") : undefined;
          if (!tokens) {
            failed += 1;
            firstError ??= `${status} ${body.slice(0, 300)}`;
            return;
          }
          rate.record();
          keep?.push(tokens);
        },
      },
    ],
  });
  rate.start();
  const result = await autocannon(options);
  return { result, perSecond: rate.perSecond(seconds), failed, firstError };
}

/**
 * Refresh rotation: every request spends a token and gets the next one. Tokens are shared by
 * all connections; a connection takes one, and the answer returns its successor. A request
 * still in flight when the run ends loses its session, so callers bring spares.
 */
async function refreshRotation(server: ServerProcess, sessions: Tokens[]) {
  const available = sessions.map((session) => session.refreshToken);
  const cpuBefore = await server.cpuMs();
  let failures = 0;
  let firstError: string | undefined;
  const run = await measure(
    server,
    loadOptions(server.url, {
      requests: [
        {
          setupRequest: (request) => ({
            ...request,
            body: requestBody(QUERY.refresh, { token: available.shift() ?? "none-left" }),
          }),
          onResponse: (status, body) => {
            const tokens = status === 200 ? tokensIn(body, "refreshToken") : undefined;
            if (tokens) available.push(tokens.refreshToken);
            else {
              failures += 1;
              firstError ??= `${status} ${body.slice(0, 300)}`;
            }
          },
        },
      ],
    }),
    // A warm-up would end with a request in flight on every connection, spending sessions.
    false,
  );
  const cpuMsPerCall =
    ((await server.cpuMs()) - cpuBefore) / Math.max(1, run.result.requests.total);
  return { run, failures, firstError, cpuMsPerCall };
}

/**
 * When a storm's run ends, the signins it already sent are still queued in the server: waiting
 * for them keeps their CPU out of the next measurement. (Stopping a server waits for them too.)
 */
function drained(compareMs: number): Promise<unknown> {
  return sleep((CONNECTIONS * compareMs) / CORES + 1000);
}

// ---------------------------------------------------------------------------------------------
// The run

function machine() {
  return {
    cores: CORES,
    cpuModel: os.cpus()[0]?.model.trim() ?? "unknown",
    node: process.version,
    platform: `${os.platform()} ${os.release()}`,
    memoryMB: Math.round(os.totalmem() / 1024 / 1024),
    /** Other work on a shared machine skews every number: this says how much there was. */
    loadAverage1mAtStart: round(os.loadavg()[0] ?? 0, 2),
  };
}

/** One compare on an idle core, median of five after a warm-up: the unit of signin work. */
function bcryptCompareMs(): number {
  const hash = bcrypt.hashSync("measure-compare", ROUNDS);
  bcrypt.compareSync("measure-compare", hash);
  const times: number[] = [];
  for (let i = 0; i < 5; i++) {
    const started = performance.now();
    bcrypt.compareSync("measure-compare", hash);
    times.push(performance.now() - started);
  }
  times.sort((a, b) => a - b);
  return times[2]!;
}

/**
 * Compares per second that the server's own hashing pool reaches right now with nothing else
 * to do. On an idle machine it matches cores / compare time; when other jobs share the cores
 * it shows how much of the ceiling was there to be had.
 */
async function poolCompareRate(passwords: typeof PasswordsModule): Promise<number> {
  const hasher = passwords.createPasswordHasher(ROUNDS, { workers: CORES });
  try {
    const hash = await hasher.hash("measure-compare");
    const compareAll = (count: number) =>
      Promise.all(Array.from({ length: count }, () => hasher.compare("measure-compare", hash)));
    await compareAll(CORES);
    const started = performance.now();
    await compareAll(2 * CORES);
    return (2 * CORES * 1000) / (performance.now() - started);
  } finally {
    await hasher.close();
  }
}

/**
 * How long the operation-limit rule takes to refuse the documents tests/graphql-limits.test.ts
 * sends: fragments that multiply their fields, up to the largest the token cap admits. The
 * tests prove the rule's work linear by counting it; the time target lives here. Only
 * validation is timed (graphql-js's validate with the rule, no server), median of seven runs.
 */
async function limitRuleTarget(): Promise<{ target: string; measured: string; pass: boolean }> {
  // type-graphql reads decorator metadata while server.js loads.
  await import("reflect-metadata");
  const { createSchema } = (await import(path.join(DIST, "server.js"))) as typeof ServerModule;
  const { operationLimitsRule } = (await import(
    path.join(DIST, "graphql/operation-limits.js")
  )) as typeof OperationLimitsModule;
  const schema = await createSchema();
  // The server's defaults (src/config.ts).
  const rule = operationLimitsRule({ maxDepth: 15, maxAliases: 15, maxCost: 1000 });
  const largest = (build: (size: number) => string) => build(largestAdmitted(build));
  const documents: [string, string][] = [
    ["25 doubling levels", doublingFragments(25)],
    ["40 doubling levels", doublingFragments(40)],
    ["200 doubling levels", doublingFragments(200)],
    ["largest doubling", largest(doublingFragments)],
    ["largest wide", largest(wideSpreads)],
    ["largest chain", largest(fragmentChain)],
    ["largest all-previous", largest(fragmentsSpreadingAllPrevious)],
  ];
  let slowest = { name: "", ms: 0 };
  let accepted: string | undefined;
  for (const [name, source] of documents) {
    const document = parse(source, { maxTokens: MAX_TOKENS });
    if (validate(schema, document, [rule]).length === 0) accepted ??= name;
    const times: number[] = [];
    for (let i = 0; i < 7; i++) {
      const started = performance.now();
      validate(schema, document, [rule]);
      times.push(performance.now() - started);
    }
    const ms = times.sort((a, b) => a - b)[3]!;
    log(`limit rule, ${name} (${source.length} bytes): median ${ms.toFixed(2)} ms`);
    if (ms > slowest.ms) slowest = { name, ms };
  }
  return {
    target: "limit rule refuses the hostile documents in < 50 ms",
    measured: accepted
      ? `${accepted} was not refused`
      : `${round(slowest.ms, 1)} ms (${slowest.name}, the slowest)`,
    pass: accepted === undefined && slowest.ms < 50,
  };
}

async function main(): Promise<void> {
  const started = Date.now();
  const host = machine();
  const { startEmbeddedDatabase } = (await import(
    path.join(DIST, "db/embedded-database.js")
  )) as typeof EmbeddedDatabaseModule;
  const { withDatabaseName } = (await import(
    path.join(DIST, "db/connection.js")
  )) as typeof ConnectionModule;
  const passwords = (await import(path.join(DIST, "auth/passwords.js"))) as typeof PasswordsModule;

  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), "graphql-jwt-auth-bench-"));
  const database = await startEmbeddedDatabase({ dataDir, log });
  const servers: ServerProcess[] = [];
  const rows: Row[] = [];
  const peaks = new Map<string, number>();
  const notePeak = (server: ServerProcess, bytes: number) =>
    peaks.set(server.name, Math.max(peaks.get(server.name) ?? 0, bytes));

  // Both Apollo servers use one database, one after the other: the second finds the accounts.
  const apolloSpec = (passwordWorkers: number, extra: Record<string, string> = {}): ServerSpec => ({
    mode: "apollo",
    distDir: DIST,
    passwordWorkers,
    env: {
      NODE_ENV: "production",
      // No SMTP server here: production with email on would refuse to start.
      EMAIL_ENABLED: "false",
      HOST: "127.0.0.1",
      PORT: "0",
      MONGODB_URI: withDatabaseName(database.uri, "bench"),
      JWT_SECRET: randomBytes(48).toString("base64url"),
      BCRYPT_ROUNDS: String(ROUNDS),
      PASSWORD_WORKERS: String(passwordWorkers),
      ADMIN_USERNAME: ADMIN.username,
      ADMIN_EMAIL: ADMIN.email,
      ADMIN_PASSWORD: ADMIN.password,
      LOG_LEVEL: "info",
      ...extra,
    },
  });

  try {
    // Measured again right before each storm: other work on a shared machine comes and goes.
    const bcryptCeilings: Report["bcrypt"] = [];
    const ceilingText = (c: { perSecond: number; poolPerSecond: number }) =>
      `bcrypt ceiling ${c.perSecond.toFixed(2)}/s (pool alone just before: ${c.poolPerSecond}/s)`;
    const measureCeiling = async (before: string) => {
      const compareMs = bcryptCompareMs();
      const measured = {
        before,
        compareMs: round(compareMs, 1),
        perSecond: (CORES * 1000) / compareMs,
        poolPerSecond: round(await poolCompareRate(passwords), 2),
      };
      bcryptCeilings.push(measured);
      log(
        `bcrypt cost ${ROUNDS}: one compare ${compareMs.toFixed(0)} ms → ceiling ` +
          `${measured.perSecond.toFixed(2)} signins/s on ${CORES} cores ` +
          `(the hashing pool alone reaches ${measured.poolPerSecond}/s now)`,
      );
      return measured;
    };

    // 1 and 2. The limits (node:http alone, and Apollo Server 5 as its docs start it, on this
    // machine, with this load generator), our publicContent with metrics off (production's
    // default) and on, and the authorized reads, whose token is verified and nothing read from
    // the database unless REVOKED_SESSION_CHECK asks for one read. Run in turns so that each
    // sees the same background load.
    const bare = await ServerProcess.start("bare node:http", {
      mode: "bare-http",
      distDir: DIST,
      env: {},
      passwordWorkers: 0,
    });
    servers.push(bare);
    const bareApollo = await ServerProcess.start("bare Apollo Server 5 standalone", {
      mode: "bare-apollo",
      distDir: DIST,
      env: {},
      passwordWorkers: 0,
    });
    servers.push(bareApollo);
    const apollo = await ServerProcess.start(`ours, ${CORES} hashing threads`, apolloSpec(CORES));
    servers.push(apollo);
    const withMetrics = await ServerProcess.start(
      "ours, METRICS_ENABLED=true",
      apolloSpec(CORES, { METRICS_ENABLED: "true" }),
    );
    servers.push(withMetrics);
    const withSessionCheck = await ServerProcess.start(
      "ours, REVOKED_SESSION_CHECK=true",
      apolloSpec(CORES, { REVOKED_SESSION_CHECK: "true" }),
    );
    servers.push(withSessionCheck);

    // Signups hash too: all at once, they keep every hashing thread busy for a few seconds.
    await Promise.all(
      USERS.map((input) => graphql(apollo.url, requestBody(QUERY.signup, { input }))),
    );
    const userTokens = await signin(apollo.url, USER);
    const adminTokens = await signin(apollo.url, ADMIN);
    // Its own session, so the check has a live one to find.
    const checkedUserTokens = await signin(withSessionCheck.url, USER);

    const publicBody = requestBody(QUERY.publicContent);
    const expected = await rawResponse(apollo.url, publicBody);
    if ((await rawResponse(bareApollo.url, publicBody)) !== expected) {
      throw new Error("bare Apollo does not answer publicContent as ours does");
    }
    const authorizedRead = async (
      server: ServerProcess,
      field: "userContent" | "adminContent",
      token: string,
    ) => {
      const body = requestBody(QUERY[field]);
      const expectedBody = await rawResponse(server.url, body, token);
      if (!expectedBody.includes(`"${field}"`)) throw new Error(`${field}: ${expectedBody}`);
      return loadOptions(server.url, {
        body,
        headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
        expectBody: expectedBody,
      });
    };
    const publicLoad = (server: ServerProcess) => ({
      server,
      options: loadOptions(server.url, { body: publicBody, expectBody: expected }),
    });
    const [bareRun, bareApolloRun, publicRun, metricsRun, userRun, adminRun, checkedRun] =
      await measureInTurns([
        { server: bare, options: loadOptions(bare.url, { body: publicBody }) },
        publicLoad(bareApollo),
        publicLoad(apollo),
        publicLoad(withMetrics),
        {
          server: apollo,
          options: await authorizedRead(apollo, "userContent", userTokens.accessToken),
        },
        {
          server: apollo,
          options: await authorizedRead(apollo, "adminContent", adminTokens.accessToken),
        },
        {
          server: withSessionCheck,
          options: await authorizedRead(
            withSessionCheck,
            "userContent",
            checkedUserTokens.accessToken,
          ),
        },
      ]);
    // Where its memory is after the read rows: the RSS target's explanation.
    const memoryAfterReads = await apollo.memory();
    for (const server of [bare, bareApollo, withMetrics, withSessionCheck]) await server.stop();
    const bareRate = bareRun!.result.requests.average;
    const bareApolloRate = bareApolloRun!.result.requests.average;
    const publicRate = publicRun!.result.requests.average;
    const userRate = userRun!.result.requests.average;
    notePeak(bare, bareRun!.peakRss);
    notePeak(bareApollo, bareApolloRun!.peakRss);
    notePeak(apollo, publicRun!.peakRss);
    notePeak(withMetrics, metricsRun!.peakRss);
    notePeak(withSessionCheck, checkedRun!.peakRss);

    const row = (
      step: number,
      scenario: string,
      server: ServerProcess,
      run: { result: autocannon.Result; peakRss: number; cpuMsPerRequest?: number },
      ratio: number | undefined,
      ratioOf: string,
      overrides: Partial<Row> = {},
    ): Row => {
      const added: Row = {
        step,
        scenario,
        server: server.name,
        connections: run.result.connections,
        rate: undefined,
        seconds: SECONDS,
        reqPerSec: round(run.result.requests.average),
        p50Ms: run.result.latency.p50,
        p99Ms: run.result.latency.p99,
        timeouts: run.result.timeouts,
        errors: errorsOf(run.result),
        peakRssMB: mb(run.peakRss),
        ratio: ratio === undefined ? undefined : round(ratio, 2),
        ratioOf,
        cpuMsPerRequest:
          run.cpuMsPerRequest === undefined ? undefined : round(run.cpuMsPerRequest, 3),
        ...overrides,
      };
      rows.push(added);
      log(
        `${scenario} [${server.name}]: ${added.reqPerSec} req/s, p50 ${added.p50Ms} ms, p99 ${added.p99Ms} ms, ` +
          `${added.errors} errors, peak RSS ${added.peakRssMB} MB` +
          (added.ratio === undefined ? "" : `, ${added.ratio} of ${ratioOf}`) +
          (added.firstError ? `\n    first error: ${added.firstError}` : ""),
      );
      return added;
    };
    /** A signin storm's row: its rate as a share of the bcrypt ceiling measured just before. */
    const stormRow = (
      step: number,
      scenario: string,
      server: ServerProcess,
      storm: Awaited<ReturnType<typeof signinStorm>>,
      peakRss: number,
      ceiling: Report["bcrypt"][number],
    ): Row =>
      row(
        step,
        scenario,
        server,
        { result: storm.result, peakRss },
        storm.perSecond / ceiling.perSecond,
        ceilingText(ceiling),
        {
          seconds: STORM_SECONDS,
          reqPerSec: round(storm.perSecond, 2),
          errors: errorsOf(storm.result) + storm.failed,
          firstError: storm.firstError,
        },
      );

    row(1, "bare node:http, fixed JSON body", bare, bareRun!, 1, "itself (the limit)");
    row(
      1,
      "bare Apollo Server 5, one-field schema",
      bareApollo,
      bareApolloRun!,
      bareApolloRate / bareRate,
      "bare node:http",
    );
    row(
      1,
      "publicContent",
      apollo,
      publicRun!,
      publicRate / bareApolloRate,
      "bare Apollo Server 5",
    );
    row(
      1,
      "publicContent, metrics on",
      withMetrics,
      metricsRun!,
      metricsRun!.result.requests.average / publicRate,
      "publicContent, metrics off",
    );
    for (const [field, run] of [
      ["userContent", userRun!],
      ["adminContent", adminRun!],
    ] as const) {
      row(
        2,
        `${field} (valid token)`,
        apollo,
        run,
        run.result.requests.average / publicRate,
        "publicContent",
      );
    }
    row(
      2,
      "userContent, session checked",
      withSessionCheck,
      checkedRun!,
      checkedRun!.result.requests.average / userRate,
      "userContent without the check",
    );

    // 3. Signin: bcrypt-bound, so the limit is the cores' compare rate. Its sessions feed step 4.
    const sessions: Tokens[] = [];
    const signinCeiling = await measureCeiling("signin row");
    await apollo.peakRss(true);
    const storm = await signinStorm(apollo, STORM_SECONDS, sessions);
    await drained(signinCeiling.compareMs);
    const stormRss = await apollo.peakRss(false);
    notePeak(apollo, stormRss);
    stormRow(3, `signin (bcrypt cost ${ROUNDS})`, apollo, storm, stormRss, signinCeiling);

    // 4. Refresh rotation (see refreshRotation), with spare sessions.
    for (let i = 0; sessions.length < CONNECTIONS + 10; i++) {
      sessions.push(await signin(apollo.url, USERS[i % USERS.length]!));
    }
    const refresh = await refreshRotation(apollo, sessions);
    const refreshRun = refresh.run;
    const refreshCpuPerCall = refresh.cpuMsPerCall;
    notePeak(apollo, refreshRun.peakRss);
    const refreshRow = row(
      4,
      "refreshToken rotation",
      apollo,
      refreshRun,
      refreshRun.result.requests.average / publicRate,
      "publicContent",
      {
        errors: errorsOf(refreshRun.result) + refresh.failures,
        firstError: refresh.firstError,
        cpuMsPerRequest: round(refreshCpuPerCall, 2),
      },
    );

    // 5. Responsiveness: publicContent at a steady rate, idle and during a signin storm.
    const probeOptions = (url: string) =>
      loadOptions(url, {
        body: publicBody,
        expectBody: expected,
        connections: PROBE_CONNECTIONS,
        overallRate: PROBE_RATE,
        timeout: PROBE_TIMEOUT_SECONDS,
      });
    const idleProbe = await measure(apollo, probeOptions(apollo.url), false);
    notePeak(apollo, idleProbe.peakRss);
    const idle = row(
      5,
      `publicContent at ${PROBE_RATE}/s, idle`,
      apollo,
      idleProbe,
      1,
      "itself (reference)",
      {
        rate: PROBE_RATE,
      },
    );

    const probeDuringStorm = async (server: ServerProcess) => {
      const ceiling = await measureCeiling(`storm on ${server.name}`);
      await server.peakRss(true);
      const stormRunning = signinStorm(server, STORM_SECONDS);
      // Let the storm fill the hashing queue before probing.
      await sleep(1000);
      const probe = await autocannon(probeOptions(server.url));
      const stormDone = await stormRunning;
      const peakRss = await server.peakRss(false);
      notePeak(server, peakRss);
      row(
        5,
        `publicContent at ${PROBE_RATE}/s during a signin storm`,
        server,
        { result: probe, peakRss },
        probe.timeouts > 0 ? undefined : probe.latency.p99 / idle.p99Ms,
        probe.timeouts > 0
          ? `no answer within ${PROBE_TIMEOUT_SECONDS} s for ${probe.timeouts} requests`
          : "idle p99 (×, lower is better)",
        { rate: PROBE_RATE },
      );
      stormRow(5, "↳ the signin storm itself", server, stormDone, peakRss, ceiling);
      return probe;
    };

    const withWorkers = await probeDuringStorm(apollo);
    await apollo.stop();

    const mainThread = await ServerProcess.start("ours, hashing on the main thread", apolloSpec(0));
    servers.push(mainThread);
    await probeDuringStorm(mainThread);
    await mainThread.stop();

    // 6. Signing algorithms (issue 14): the same reads, signins and refreshes with tokens signed
    // by a shared secret (HS256) and by managed private keys (ES256, the default, and RS256).
    // Each server has its own database, so its managed keys are its own.
    const algorithmServers: { algorithm: string; server: ServerProcess }[] = [];
    for (const algorithm of ["HS256", "ES256", "RS256"] as const) {
      let spec = apolloSpec(CORES, {
        JWT_ALGORITHM: algorithm,
        MONGODB_URI: withDatabaseName(database.uri, `bench_${algorithm.toLowerCase()}`),
        JWT_KEY_ENCRYPTION_SECRET: randomBytes(32).toString("base64url"),
      });
      if (algorithm !== "HS256") {
        // Without a secret the server manages its own key pairs, as `npm start` does.
        spec = {
          ...spec,
          env: Object.fromEntries(
            Object.entries(spec.env).filter(([name]) => name !== "JWT_SECRET"),
          ),
        };
      }
      const server = await ServerProcess.start(`ours, ${algorithm}`, spec);
      servers.push(server);
      algorithmServers.push({ algorithm, server });
      await Promise.all(
        USERS.map((input) => graphql(server.url, requestBody(QUERY.signup, { input }))),
      );
    }
    const algorithmLoads = [];
    for (const { server } of algorithmServers) {
      algorithmLoads.push(
        publicLoad(server),
        {
          server,
          options: await authorizedRead(
            server,
            "userContent",
            (await signin(server.url, USER)).accessToken,
          ),
        },
        {
          server,
          options: await authorizedRead(
            server,
            "adminContent",
            (await signin(server.url, ADMIN)).accessToken,
          ),
        },
      );
    }
    const algorithmRuns = await measureInTurns(algorithmLoads);
    const authorizedRatios: number[] = [];
    for (const [i, { algorithm, server }] of algorithmServers.entries()) {
      const [publicOf, userOf, adminOf] = algorithmRuns.slice(3 * i, 3 * i + 3);
      const publicOfRate = publicOf!.result.requests.average;
      notePeak(server, publicOf!.peakRss);
      row(6, `publicContent, ${algorithm}`, server, publicOf!, undefined, "");
      for (const [field, run] of [
        ["userContent", userOf!],
        ["adminContent", adminOf!],
      ] as const) {
        const ratio = run.result.requests.average / publicOfRate;
        authorizedRatios.push(ratio);
        row(6, `${field}, ${algorithm} token`, server, run, ratio, `publicContent, ${algorithm}`);
      }
      const ceiling = await measureCeiling(`signin with ${algorithm}`);
      const signedIn: Tokens[] = [];
      await server.peakRss(true);
      const storm = await signinStorm(server, STORM_SECONDS, signedIn);
      await drained(ceiling.compareMs);
      const stormPeak = await server.peakRss(false);
      notePeak(server, stormPeak);
      stormRow(6, `signin, ${algorithm}`, server, storm, stormPeak, ceiling);
      for (let j = 0; signedIn.length < CONNECTIONS + 10; j++) {
        signedIn.push(await signin(server.url, USERS[j % USERS.length]!));
      }
      const rotation = await refreshRotation(server, signedIn);
      notePeak(server, rotation.run.peakRss);
      row(6, `refreshToken, ${algorithm}`, server, rotation.run, undefined, "", {
        errors: errorsOf(rotation.run.result) + rotation.failures,
        firstError: rotation.firstError,
        cpuMsPerRequest: round(rotation.cpuMsPerCall, 2),
      });
      await server.stop();
    }

    // Targets (issue 10). Each is a ratio measured in this run, or a per-call cost.
    const find = (step: number, scenario: string) =>
      rows.find((r) => r.step === step && r.scenario.startsWith(scenario))!;
    const peakRssMB = mb(Math.max(...peaks.values()));
    const ourPeakMB = mb(peaks.get(apollo.name) ?? 0);
    const times = (ratio: number) => `${ratio.toFixed(2)}×`;
    const publicOfBareHttp = publicRate / bareRate;
    const metricsRatio = find(1, "publicContent, metrics on").ratio!;
    const checkRatio = find(2, "userContent, session checked").ratio!;
    const idleP99 = idle.p99Ms;
    const stormRatio = withWorkers.latency.p99 / Math.max(1, idleP99);
    const targets: Target[] = [
      {
        target: "publicContent ≥ 0.90× bare Apollo Server 5 standalone",
        measured: times(find(1, "publicContent").ratio!),
        pass: find(1, "publicContent").ratio! >= 0.9,
      },
      {
        target: "publicContent ≥ 0.30× bare node:http",
        measured: times(publicOfBareHttp),
        pass: publicOfBareHttp >= 0.3,
      },
      {
        target: "metrics cost ≤ 5% (publicContent, metrics on ≥ 0.95× off)",
        measured: times(metricsRatio),
        pass: metricsRatio >= 0.95,
      },
      {
        target: "userContent and adminContent ≥ 0.90× publicContent",
        measured: `${times(find(2, "userContent").ratio!)}, ${times(find(2, "adminContent").ratio!)}`,
        pass: find(2, "userContent").ratio! >= 0.9 && find(2, "adminContent").ratio! >= 0.9,
      },
      {
        target:
          "userContent and adminContent ≥ 0.90× publicContent with HS256, ES256 and RS256 tokens (issue 14)",
        measured: authorizedRatios.map(times).join(", "),
        pass: authorizedRatios.every((ratio) => ratio >= 0.9),
      },
      {
        target: "REVOKED_SESSION_CHECK=true cost on userContent (issue 13; no target)",
        measured: times(checkRatio),
        pass: undefined,
      },
      {
        target: "refreshToken: server CPU per call ≤ 3 ms",
        measured: `${refreshRow.cpuMsPerRequest} ms`,
        pass: refreshCpuPerCall <= 3,
      },
      {
        target: `refreshToken ≥ 2× the ${REFRESH_BASELINE.reqPerSec}/s of the ${REFRESH_BASELINE.run} run (before this round)`,
        measured: times(refreshRow.reqPerSec / REFRESH_BASELINE.reqPerSec),
        pass: refreshRow.reqPerSec >= 2 * REFRESH_BASELINE.reqPerSec,
      },
      {
        target: "signin ≥ 0.80× the bcrypt ceiling",
        measured: times(find(3, "signin").ratio!),
        pass: find(3, "signin").ratio! >= 0.8,
      },
      {
        target: "publicContent p99 during a signin storm ≤ 1.5× idle p99 (hashing threads)",
        measured:
          withWorkers.timeouts > 0
            ? `${withWorkers.timeouts} timed out`
            : `${times(stormRatio)} (${withWorkers.latency.p99} ms vs ${idleP99} ms)`,
        pass: withWorkers.timeouts === 0 && stormRatio <= 1.5,
      },
      {
        target: "peak RSS ≤ 150 MB (our server at its defaults, every row it served)",
        measured: `${ourPeakMB} MB`,
        pass: ourPeakMB <= 150,
      },
    ];
    targets.push(await limitRuleTarget());
    targets.push(
      ...(await timingTargets({
        distDir: DIST,
        mongodbUri: withDatabaseName(database.uri, "bench_timing"),
        log,
      })),
    );

    const report = {
      generatedAt: new Date().toISOString(),
      machine: host,
      settings: {
        connections: CONNECTIONS,
        seconds: SECONDS,
        warmupSeconds: WARMUP_SECONDS,
        stormSeconds: STORM_SECONDS,
        stormSettleSeconds: STORM_SETTLE_SECONDS,
        probeRate: PROBE_RATE,
        probeConnections: PROBE_CONNECTIONS,
        bcryptRounds: ROUNDS,
        passwordWorkers: CORES,
        servers: "each in its own child process; autocannon in the bench process",
      },
      bcrypt: bcryptCeilings.map((c) => ({ ...c, perSecond: round(c.perSecond, 2) })),
      rows,
      targets,
      peakRssMB,
      peakRssMBByServer: Object.fromEntries([...peaks].map(([name, bytes]) => [name, mb(bytes)])),
      wallSeconds: Math.round((Date.now() - started) / 1000),
      loadAverage1mAtEnd: round(os.loadavg()[0] ?? 0, 2),
      memoryAfterReads,
    };
    await writeResults(report);
    log("");
    log(markdown(report));
  } finally {
    for (const server of servers) await server.stop().catch(() => undefined);
    await database.stop().catch(() => undefined);
    await fs.rm(dataDir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// Output

/** pass undefined: reported, with no target to meet. */
interface Target {
  target: string;
  measured: string;
  pass: boolean | undefined;
}

interface Report {
  generatedAt: string;
  machine: ReturnType<typeof machine>;
  settings: { connections: number; seconds: number; probeRate: number; bcryptRounds: number };
  bcrypt: { before: string; compareMs: number; perSecond: number; poolPerSecond: number }[];
  rows: Row[];
  targets: Target[];
  wallSeconds: number;
  loadAverage1mAtEnd: number;
  memoryAfterReads: { usage: Record<string, number>; heapSpaces: Record<string, number> };
}

function markdown(report: Report): string {
  const { machine: m } = report;
  const lines = [
    "# Benchmark results",
    "",
    `- ${report.generatedAt}, ${report.wallSeconds} s wall time`,
    `- ${m.cores} cores (${m.cpuModel}), ${m.memoryMB} MB, Node ${m.node}, ${m.platform}; ` +
      `load average ${m.loadAverage1mAtStart} at start, ${report.loadAverage1mAtEnd} at the end ` +
      "(other jobs on the machine)",
    ...report.bcrypt.map(
      (c) =>
        `- bcrypt cost ${report.settings.bcryptRounds} before the ${c.before}: one compare ` +
        `${c.compareMs} ms → ceiling ${c.perSecond}/s; the hashing pool alone reached ` +
        `${c.poolPerSecond}/s`,
    ),
    "",
    "| # | scenario | server | conns | req/s | p50 ms | p99 ms | errors | peak RSS MB | CPU ms/req | ratio | of |",
    "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ...report.rows
      .map((r) =>
        [
          r.step,
          r.scenario,
          r.server,
          r.rate === undefined ? r.connections : `${r.connections} @ ${r.rate}/s`,
          r.reqPerSec,
          r.timeouts > 0 && r.reqPerSec === 0 ? "—" : r.p50Ms,
          r.timeouts > 0
            ? `${r.reqPerSec === 0 ? "—" : r.p99Ms}, ${r.timeouts} timed out`
            : r.p99Ms,
          r.errors,
          r.peakRssMB,
          r.cpuMsPerRequest ?? "",
          r.ratio ?? "",
          r.ratioOf,
        ].join(" | "),
      )
      .map((line) => `| ${line} |`),
    "",
    memoryLine(report.memoryAfterReads),
    "",
    "| target | measured | result |",
    "|---|---|---|",
    ...report.targets.map(
      (t) =>
        `| ${t.target} | ${t.measured} | ${t.pass === undefined ? "reported" : t.pass ? "met" : "missed"} |`,
    ),
    "",
  ];
  return lines.join("\n");
}

function memoryLine({ usage, heapSpaces }: Report["memoryAfterReads"]): string {
  const spaces = Object.entries(heapSpaces)
    .filter(([, size]) => size >= 0.5)
    .map(([name, size]) => `${name.replace(/_space$/, "").replace(/_/g, " ")} ${size}`)
    .join(", ");
  return (
    `Our server's memory right after the read rows (MB): RSS ${usage.rss}, of which the V8 heap ` +
    `${usage.heapTotal} (${usage.heapUsed} used; ${spaces}), external ${usage.external} ` +
    `(array buffers ${usage.arrayBuffers}); the rest is node, the hashing threads and native.`
  );
}

async function writeResults(report: Report): Promise<void> {
  await fs.mkdir(RESULTS_DIR, { recursive: true });
  // Written as Prettier would, so `npm run lint` (prettier --check .) stays clean.
  const write = async (name: string, text: string) => {
    const file = path.join(RESULTS_DIR, name);
    const config = (await prettier.resolveConfig(file)) ?? {};
    await fs.writeFile(file, await prettier.format(text, { ...config, filepath: file }));
  };
  await write("latest.json", JSON.stringify(report, null, 2));
  await write("latest.md", markdown(report));
  log(`wrote ${path.relative(ROOT, RESULTS_DIR)}/latest.md and latest.json`);
  await updateReadme(report);
}

const README_START = "<!-- bench results: written by npm run bench -->";
const README_END = "<!-- end of bench results -->";

/** Puts this run's tables into README's Performance section, between its two markers. */
async function updateReadme(report: Report): Promise<void> {
  const file = path.join(ROOT, "README.md");
  const text = await fs.readFile(file, "utf8");
  const from = text.indexOf(README_START);
  const to = text.indexOf(README_END);
  if (from < 0 || to < from) {
    log("README.md has no bench result markers: left unchanged");
    return;
  }
  // The report without its title: the section has its own heading.
  const body = markdown(report).split("\n").slice(2).join("\n");
  const updated = `${text.slice(0, from + README_START.length)}\n\n${body}\n${text.slice(to)}`;
  const config = (await prettier.resolveConfig(file)) ?? {};
  await fs.writeFile(file, await prettier.format(updated, { ...config, filepath: file }));
  log("updated README.md's Performance section");
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
