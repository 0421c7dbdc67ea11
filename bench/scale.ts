import { fork, type ChildProcess } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { promises as fs } from "node:fs";
import os from "node:os";
import path from "node:path";
import bcrypt from "bcryptjs";
import mongoose, { Types } from "mongoose";
import * as prettier from "prettier";
import type * as ConnectionModule from "../src/db/connection";
import type * as EmbeddedDatabaseModule from "../src/db/embedded-database";
import type * as RefreshTokenEntities from "../src/entities/refresh-token.entity";
import type * as SessionEntities from "../src/entities/session.entity";
import type * as UserActivityEntities from "../src/entities/user-activity.entity";
import type * as UserEntities from "../src/entities/user.entity";
import type * as VersionedRecordEntities from "../src/entities/versioned-record.entity";
import { DIST, ROOT } from "./one-server";
import type { FromServer, ServerSpec, ToServer } from "./protocol";

/**
 * `npm run bench:scale`: how signin, refresh and signup (and the session and admin queries)
 * cost as the database grows, on each backend of the embedded FerretDB (SQLite, and
 * PostgreSQL on a private cluster). Accounts are seeded in bulk straight into the models'
 * collections, as the server would have written them after signup and one signin each; the
 * requests go through the API of a server in its own process. Writes
 * bench/results/scale.{json,md}. Bounded in time: a size whose seeding would not fit the
 * backend's budget is left out and reported as such.
 */

// This file runs as dist/bench/bench/scale.js.
const SERVER_SCRIPT = path.join(__dirname, "server-process.js");
const RESULTS_DIR = path.join(ROOT, "bench", "results");

const ROUNDS = 4;
/** SCALE_SIZES / SCALE_ROTATIONS / SCALE_BACKENDS: smaller runs while working on this file. */
const SIZES = process.env.SCALE_SIZES?.split(",").map(Number) ?? [1_000, 10_000, 100_000];
const ROTATIONS = Number(process.env.SCALE_ROTATIONS ?? 1_000_000);
/** Requests in flight while measuring: a few clients at once, not a load test. */
const CONCURRENCY = 4;
const SAMPLES = { signin: 40, refresh: 80, signup: 30, mySessions: 20, revokeOthers: 8 };
const ADMIN_SAMPLES = 5;
/** The admin listings scan on FerretDB (15 s each at 100,000 accounts): two are enough there. */
const ADMIN_MIN_SAMPLES = 2;
/** A measurement stops after this long even with fewer samples (a slow backend at size). */
const MEASURE_CAP_MS = 20_000;
const SEED_BATCH = 1_000;
/** A bulk insert is not a request: the server's 3 s operation limit does not apply to it. */
const SEED_OPTIONS = { ordered: false, timeoutMS: 300_000 } as const;
/** ms per backend, seeding and measuring; the whole run stays under 15 minutes. */
const BUDGET_MS: Record<Backend, number> = { sqlite: 9 * 60_000, postgres: 4.5 * 60_000 };
const TARGET_RATIO = 1.5;
const PASSWORD = "scale-bench-password-1";
const ADMIN = {
  username: "scale_admin",
  email: "scale_admin@example.com",
  password: "scale-admin-password-1",
};
const NEVER = new Date(8_640_000_000_000_000);
const DAY_MS = 86_400_000;

type Backend = "sqlite" | "postgres";

const log = (line: string) => process.stderr.write(`bench:scale: ${line}\n`);
const round = (value: number, digits = 1) => Number(value.toFixed(digits));

// ---------------------------------------------------------------------------------------------
// The server, in its own process (bench/server-process.ts)

class ServerProcess {
  private constructor(
    readonly url: string,
    private readonly child: ChildProcess,
  ) {}

  static start(spec: ServerSpec): Promise<ServerProcess> {
    const child = fork(SERVER_SCRIPT, [], {
      env: { ...process.env, BENCH_SERVER: JSON.stringify(spec) },
      stdio: ["ignore", "ignore", "inherit", "ipc"],
    });
    return new Promise((resolve, reject) => {
      child.once("message", (message: FromServer) => {
        if (message.type === "ready") resolve(new ServerProcess(message.url, child));
        else reject(new Error(`the server failed to start: ${JSON.stringify(message)}`));
      });
      child.once("exit", (code) => reject(new Error(`the server exited (${code}) at start`)));
    });
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((resolve) => this.child.once("exit", resolve));
    this.child.send({ type: "stop" } satisfies ToServer);
    const timer = setTimeout(() => this.child.kill("SIGKILL"), 10_000);
    await exited;
    clearTimeout(timer);
  }
}

// ---------------------------------------------------------------------------------------------
// Requests

const Q = {
  signup: "mutation($input: SignupInput!) { signup(input: $input) { id } }",
  signin:
    "mutation($input: SigninInput!) { signin(input: $input) { accessToken refreshToken user { id } } }",
  refresh:
    "mutation($token: String!) { refreshToken(refreshToken: $token) { accessToken refreshToken } }",
  mySessions: "{ mySessions { id current } }",
  revokeOthers: "mutation { revokeOtherSessions }",
  users:
    "query($first: Int, $after: String, $search: String) { users(first: $first, after: $after, search: $search) { totalCount pageInfo { hasNextPage endCursor } edges { node { id } } } }",
};

interface Pair {
  accessToken: string;
  refreshToken: string;
}

async function graphql<T>(
  url: string,
  query: string,
  variables: Record<string, unknown> = {},
  token?: string,
): Promise<T> {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (token) headers.authorization = `Bearer ${token}`;
  const response = await fetch(url, {
    method: "POST",
    headers,
    body: JSON.stringify({ query, variables }),
  });
  const body = (await response.json()) as { data?: T; errors?: unknown[] };
  if (body.errors?.length || !body.data) throw new Error(JSON.stringify(body.errors ?? body));
  return body.data;
}

async function signin(url: string, username: string, password = PASSWORD): Promise<Pair> {
  const data = await graphql<{ signin: Pair }>(url, Q.signin, { input: { username, password } });
  return data.signin;
}

/** Set-up calls (not timed) are tried again: a slow backend at size fails some requests. */
async function persist<T>(work: () => Promise<T>, attempts = 5): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await work();
    } catch (error) {
      if (i >= attempts) throw error;
    }
  }
}

interface Stats {
  n: number;
  p50: number;
  p99: number;
  /** Requests that failed (the server's 3 s database limit answers SERVICE_UNAVAILABLE). */
  errors?: number;
  firstError?: string;
}

function stats(samples: number[]): Stats {
  if (samples.length === 0) return { n: 0, p50: 0, p99: 0 };
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
  return { n: sorted.length, p50: round(at(0.5)), p99: round(at(0.99)) };
}

/**
 * Runs `request(i)` `count` times with CONCURRENCY in flight and returns the latencies of the
 * timed part: `request` may prepare (untimed) and calls `timed` around the request measured.
 */
async function measure(
  count: number,
  request: (i: number, timed: <T>(work: () => Promise<T>) => Promise<T>) => Promise<void>,
  concurrency = CONCURRENCY,
  /** Samples to get past MEASURE_CAP_MS for (up to three times as long). */
  minSamples = 10,
): Promise<Stats> {
  const samples: number[] = [];
  const started = Date.now();
  let next = 0;
  const timed = async <T>(work: () => Promise<T>): Promise<T> => {
    const t = performance.now();
    const result = await work();
    samples.push(performance.now() - t);
    return result;
  };
  let errors = 0;
  let firstError: string | undefined;
  const goOn = () => {
    const elapsed = Date.now() - started;
    return (
      next < count &&
      (elapsed < MEASURE_CAP_MS || (samples.length < minSamples && elapsed < 3 * MEASURE_CAP_MS))
    );
  };
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (goOn()) {
        try {
          await request(next++, timed);
        } catch (error) {
          errors++;
          firstError ??= (error as Error).message.slice(0, 300);
        }
      }
    }),
  );
  return errors > 0 ? { ...stats(samples), errors, firstError } : stats(samples);
}

/** One refresh of a chain; a failed one starts the chain again from a signin (not timed). */
async function refreshChain(
  url: string,
  chains: Pair[],
  mine: number,
  timed: <T>(work: () => Promise<T>) => Promise<T>,
  username: string,
): Promise<void> {
  try {
    const next = await timed(() =>
      graphql<{ refreshToken: Pair }>(url, Q.refresh, { token: chains[mine]!.refreshToken }),
    );
    chains[mine] = next.refreshToken;
  } catch (error) {
    chains[mine] = await signin(url, username).catch(() => chains[mine]!);
    throw error;
  }
}

// ---------------------------------------------------------------------------------------------
// Seeding: documents as the server writes them, inserted in bulk

interface Models {
  users: typeof UserEntities.userCollection;
  sessions: typeof SessionEntities.sessionCollection;
  sessionActivity: typeof SessionEntities.sessionActivityCollection;
  userActivity: typeof UserActivityEntities.userActivityCollection;
  refreshTokens: typeof RefreshTokenEntities.refreshTokenCollection;
  rotations: typeof RefreshTokenEntities.refreshRotationCollection;
  heads: typeof VersionedRecordEntities.HEAD_COLLECTIONS;
  versions: string;
}

const seedName = (i: number) => `scale_u${i}`;

function versioned(namespace: string, key: string, state: unknown, at: Date, exp: Date) {
  return {
    head: { _id: key, v: 1, s: state, at, exp },
    version: { _id: `${namespace}:${key}#1`, k: `${namespace}:${key}`, v: 1, s: state, at },
  };
}

const sha256 = (text: string) => createHash("sha256").update(text, "utf8").digest("hex");

/** Accounts [from, to): signed up, signed in once, refreshed once. 12 documents each. */
async function seedAccounts(models: Models, passwordHash: string, from: number, to: number) {
  const db = mongoose.connection;
  for (let start = from; start < to; start += SEED_BATCH) {
    const end = Math.min(to, start + SEED_BATCH);
    const now = Date.now();
    const at = new Date(now);
    const docs = {
      users: [] as object[],
      usernames: [] as object[],
      emails: [] as object[],
      userSessions: [] as object[],
      versions: [] as object[],
      userActivity: [] as object[],
      sessions: [] as object[],
      sessionActivity: [] as object[],
      refreshTokens: [] as object[],
      rotations: [] as object[],
    };
    for (let i = start; i < end; i++) {
      const userId = new Types.ObjectId();
      const sessionId = new Types.ObjectId();
      const name = seedName(i);
      const email = `${name}@example.com`;
      const expiresAtMs = now + 30 * DAY_MS;
      docs.users.push({
        _id: userId,
        username: name,
        usernameKey: name,
        email,
        passwordHash,
        roles: ["USER"],
        createdAt: at,
        status: "active",
        emailVerifiedAt: null,
        disabledAt: null,
        disabledReason: null,
        passwordChangedAt: null,
        v: 0,
      });
      const owner = { userId: userId.toHexString(), atMs: now };
      const username = versioned(models.heads.usernames, name, owner, at, NEVER);
      const emailClaim = versioned(models.heads.emails, sha256(email), owner, at, NEVER);
      const list = {
        sessions: [{ id: sessionId.toHexString(), expiresAtMs }],
        expiresAtMs,
      };
      const listed = versioned(
        models.heads.userSessions,
        userId.toHexString(),
        list,
        at,
        new Date(expiresAtMs),
      );
      docs.usernames.push(username.head);
      docs.emails.push(emailClaim.head);
      docs.userSessions.push(listed.head);
      docs.versions.push(username.version, emailClaim.version, listed.version);
      docs.userActivity.push({ _id: userId, lastSigninAt: at });
      docs.sessions.push({
        _id: sessionId,
        userId,
        createdAt: at,
        expiresAt: new Date(expiresAtMs),
        userAgent: "bench",
        ip: "127.0.0.1",
        revokedAt: null,
        revokedReason: null,
      });
      docs.sessionActivity.push({
        _id: sessionId,
        lastUsedAt: at,
        userAgent: "bench",
        ip: "127.0.0.1",
      });
      // The signin's token, spent by the refresh, whose rotation holds the live token's hash.
      const node = randomBytes(16).toString("base64url");
      docs.refreshTokens.push({
        _id: sha256(randomBytes(32).toString("base64url")),
        node,
        sessionId,
        userId,
        createdAt: at,
        expiresAt: new Date(now + 7 * DAY_MS),
      });
      docs.rotations.push(rotationOf(node, sessionId, now));
    }
    const insert = (name: string, list: object[]) =>
      db.collection(name).insertMany(list, SEED_OPTIONS);
    await Promise.all([
      models.users.insertMany(docs.users as never[], SEED_OPTIONS),
      insert(models.heads.usernames, docs.usernames),
      insert(models.heads.emails, docs.emails),
      insert(models.heads.userSessions, docs.userSessions),
      insert(models.versions, docs.versions),
      models.userActivity.insertMany(docs.userActivity as never[], SEED_OPTIONS),
      models.sessions.insertMany(docs.sessions as never[], SEED_OPTIONS),
      models.sessionActivity.insertMany(docs.sessionActivity as never[], SEED_OPTIONS),
      models.refreshTokens.insertMany(docs.refreshTokens as never[], SEED_OPTIONS),
      models.rotations.insertMany(docs.rotations as never[], SEED_OPTIONS),
    ]);
  }
}

/** The record a refresh leaves: `node` spent, and the hash of its child's token. */
function rotationOf(node: string, sessionId: Types.ObjectId, now: number): object {
  return {
    _id: node,
    child: randomBytes(16).toString("base64url"),
    sessionId,
    at: new Date(now),
    expiresAt: new Date(now + 7 * DAY_MS),
    childTokenHash: sha256(randomBytes(32).toString("base64url")),
  };
}

/**
 * `count` past rotations: a rotation record each (a rotated token lives in the record that
 * issued it). Two batches in flight, so the database stores one while the next is built and
 * sent.
 */
async function seedRotations(models: Models, count: number, sessionIds: Types.ObjectId[]) {
  const starts: number[] = [];
  for (let start = 0; start < count; start += SEED_BATCH) starts.push(start);
  const lane = async () => {
    for (let start = starts.shift(); start !== undefined; start = starts.shift()) {
      await seedRotationBatch(models, start, Math.min(count, start + SEED_BATCH), sessionIds);
    }
  };
  await Promise.all([lane(), lane()]);
}

async function seedRotationBatch(
  models: Models,
  start: number,
  end: number,
  sessionIds: Types.ObjectId[],
) {
  const now = Date.now();
  const rotations: object[] = [];
  for (let i = start; i < end; i++) {
    const sessionId = sessionIds[i % sessionIds.length]!;
    rotations.push(rotationOf(randomBytes(16).toString("base64url"), sessionId, now));
  }
  await models.rotations.insertMany(rotations as never[], SEED_OPTIONS);
}

// ---------------------------------------------------------------------------------------------
// One backend

/** Single operations by _id on user_activity (one document per account), straight to FerretDB. */
const PRIMITIVES = [
  "findOne",
  "insertOne",
  "replaceOne",
  "upsert",
  "updateOne",
  "deleteOne",
] as const;
type Primitive = (typeof PRIMITIVES)[number];

async function measurePrimitives(models: Models, size: number): Promise<Record<Primitive, Stats>> {
  const c = models.userActivity;
  const existing = (
    await c
      .find({}, { projection: { _id: 1 } })
      .limit(40)
      .toArray()
  ).map((d) => d._id);
  const fresh = Array.from({ length: 10 }, () => new Types.ObjectId());
  const at = new Date();
  const time = async (work: (i: number) => Promise<unknown>) => {
    const samples: number[] = [];
    for (let i = 0; i < 10; i++) {
      const t = performance.now();
      await work(i);
      samples.push(performance.now() - t);
    }
    return stats(samples);
  };
  const result = {
    findOne: await time((i) => c.findOne({ _id: existing[i]! })),
    insertOne: await time((i) => c.insertOne({ _id: fresh[i]!, lastSigninAt: at })),
    replaceOne: await time((i) => c.replaceOne({ _id: existing[10 + i]! }, { lastSigninAt: at })),
    upsert: await time((i) =>
      c.replaceOne({ _id: existing[20 + i]! }, { lastSigninAt: at }, { upsert: true }),
    ),
    updateOne: await time((i) =>
      c.updateOne({ _id: existing[30 + i]! }, { $set: { lastSigninAt: at } }),
    ),
    deleteOne: await time((i) => c.deleteOne({ _id: fresh[i]! })),
  };
  log(`${size} documents: ${JSON.stringify(result)}`);
  return result;
}

interface SizeResult {
  accounts: number;
  /** By _id on a collection of `accounts` documents. */
  primitives: Record<Primitive, Stats>;
  seedSeconds: number;
  signin: Stats;
  refresh: Stats;
  signup: Stats;
  mySessions: Stats;
  revokeOtherSessions: Stats;
  usersSearch: Stats;
  usersPage: Stats;
}

interface BackendResult {
  backend: Backend;
  sizes: SizeResult[];
  /** Sizes left out because their seeding would not fit the budget. */
  skipped: { accounts: number; reason: string }[];
  rotations?: { count: number; seedSeconds: number; refresh: Stats; skippedReason?: string };
  seedDocsPerSecond: number;
}

const DOCS_PER_ACCOUNT = 11;

async function runBackend(backend: Backend): Promise<BackendResult> {
  const started = Date.now();
  const remaining = () => BUDGET_MS[backend] - (Date.now() - started);
  const load = async <T>(file: string) => (await import(path.join(DIST, file))) as T;
  const { startEmbeddedDatabase } =
    await load<typeof EmbeddedDatabaseModule>("db/embedded-database.js");
  const { connectDatabase, disconnectDatabase, withDatabaseName } =
    await load<typeof ConnectionModule>("db/connection.js");
  const userEntities = await load<typeof UserEntities>("entities/user.entity.js");
  const sessionEntities = await load<typeof SessionEntities>("entities/session.entity.js");
  const activity = await load<typeof UserActivityEntities>("entities/user-activity.entity.js");
  const tokens = await load<typeof RefreshTokenEntities>("entities/refresh-token.entity.js");
  const records = await load<typeof VersionedRecordEntities>("entities/versioned-record.entity.js");
  const models: Models = {
    users: userEntities.userCollection,
    sessions: sessionEntities.sessionCollection,
    sessionActivity: sessionEntities.sessionActivityCollection,
    userActivity: activity.userActivityCollection,
    refreshTokens: tokens.refreshTokenCollection,
    rotations: tokens.refreshRotationCollection,
    heads: records.HEAD_COLLECTIONS,
    versions: "record_versions",
  };

  const folder = await fs.mkdtemp(path.join(os.tmpdir(), "graphql-jwt-auth-scale-"));
  // As root, PostgreSQL runs as the postgres user, who must get through to its cluster.
  await fs.chmod(folder, 0o711);
  const database = await startEmbeddedDatabase({
    dataDir: path.join(folder, "ferretdb"),
    log,
    backend:
      backend === "postgres"
        ? { kind: "postgres", clusterDir: path.join(folder, "postgres") }
        : { kind: "sqlite" },
  });
  const uri = withDatabaseName(database.uri, "scale");
  let server: ServerProcess | undefined;
  try {
    await connectDatabase(uri);
    server = await ServerProcess.start({
      mode: "apollo",
      distDir: DIST,
      passwordWorkers: 1,
      env: {
        NODE_ENV: "development",
        EMAIL_ENABLED: "false",
        HOST: "127.0.0.1",
        PORT: "0",
        MONGODB_URI: uri,
        JWT_SECRET: randomBytes(48).toString("base64url"),
        BCRYPT_ROUNDS: String(ROUNDS),
        ADMIN_USERNAME: ADMIN.username,
        ADMIN_EMAIL: ADMIN.email,
        ADMIN_PASSWORD: ADMIN.password,
        LOG_LEVEL: "warn",
        GRAPHQL_IDE: "false",
      },
    });
    const url = server.url;
    const passwordHash = bcrypt.hashSync(PASSWORD, ROUNDS);
    const admin = await persist(() => signin(url, ADMIN.username, ADMIN.password));

    const result: BackendResult = { backend, sizes: [], skipped: [], seedDocsPerSecond: 0 };
    let seeded = 0;
    let seedMs = 0;
    let signups = 0;
    let measuringMs = 60_000;
    for (const size of SIZES) {
      const docs = (size - seeded) * DOCS_PER_ACCOUNT;
      const rate = result.seedDocsPerSecond || 5_000;
      // Seeding plus measuring (half as long again as at the size before) must fit what is left.
      const projectedMs = (docs / rate) * 1000 + measuringMs * 1.5;
      if (result.sizes.length > 0 && projectedMs > remaining()) {
        const reason =
          `seeding ${docs.toLocaleString("en")} more documents at the measured ` +
          `${Math.round(rate)} documents/s would take ${Math.round(docs / rate)} s; ` +
          `${Math.round(remaining() / 1000)} s of this backend's budget were left`;
        log(`${backend}: ${size} accounts left out: ${reason}`);
        result.skipped.push({ accounts: size, reason });
        continue;
      }
      log(`${backend}: seeding accounts ${seeded}..${size}`);
      const seedStarted = Date.now();
      await seedAccounts(models, passwordHash, seeded, size);
      seedMs += Date.now() - seedStarted;
      seeded = size;
      result.seedDocsPerSecond = Math.round((seeded * DOCS_PER_ACCOUNT) / (seedMs / 1000));
      log(`${backend}: ${size} accounts seeded (${result.seedDocsPerSecond} documents/s)`);
      const pick = () => seedName(Math.floor(Math.random() * size));
      const measuringStarted = Date.now();
      const primitives = await measurePrimitives(models, size);

      const chains: Pair[] = [];
      const signinStats = await measure(SAMPLES.signin, async (_i, timed) => {
        chains.push(await timed(() => signin(url, pick())));
      });
      // Each worker walks its own chains: a chain is never refreshed twice at once.
      while (chains.length < 8) {
        chains.push(await persist(() => signin(url, seedName(chains.length))));
      }
      let chain = 0;
      const refreshStats = await measure(SAMPLES.refresh, (_i, timed) =>
        refreshChain(url, chains, chain++ % 8, timed, seedName(0)),
      );
      const signupStats = await measure(SAMPLES.signup, async (_i, timed) => {
        const name = `scale_new${signups++}`;
        await timed(() =>
          graphql(url, Q.signup, {
            input: { username: name, email: `${name}@example.com`, password: PASSWORD },
          }),
        );
      });
      // One account with a few live sessions, listed; then ending all but one, again and again.
      const owner = pick();
      const own = await persist(() => signin(url, owner));
      for (let i = 0; i < 4; i++) await persist(() => signin(url, owner));
      const mySessions = await measure(SAMPLES.mySessions, async (_i, timed) => {
        await timed(() => graphql(url, Q.mySessions, {}, own.accessToken));
      });
      const revokeOthers = await measure(
        SAMPLES.revokeOthers,
        async (_i, timed) => {
          for (let i = 0; i < 3; i++) await signin(url, owner);
          await timed(() => graphql(url, Q.revokeOthers, {}, own.accessToken));
        },
        1,
      );
      // Admin: a prefix search that matches one account, and paging through 100 at a time.
      const usersSearch = await measure(
        ADMIN_SAMPLES,
        async (i, timed) => {
          const search = seedName(Math.floor(((i + 1) * size) / (ADMIN_SAMPLES + 1)));
          await timed(() => graphql(url, Q.users, { first: 20, search }, admin.accessToken));
        },
        1,
        ADMIN_MIN_SAMPLES,
      );
      let after: string | null = null;
      const usersPage = await measure(
        ADMIN_SAMPLES,
        async (_i, timed) => {
          const data = await timed(() =>
            graphql<{ users: { pageInfo: { endCursor: string | null } } }>(
              url,
              Q.users,
              { first: 100, after },
              admin.accessToken,
            ),
          );
          after = data.users.pageInfo.endCursor;
        },
        1,
        ADMIN_MIN_SAMPLES,
      );
      const row: SizeResult = {
        accounts: size,
        seedSeconds: round((measuringStarted - seedStarted) / 1000),
        primitives,
        signin: signinStats,
        refresh: refreshStats,
        signup: signupStats,
        mySessions,
        revokeOtherSessions: revokeOthers,
        usersSearch,
        usersPage,
      };
      measuringMs = Date.now() - measuringStarted;
      log(`${backend} @ ${size}: ${JSON.stringify(row)}`);
      result.sizes.push(row);
    }

    // Refresh after many rotations: the rotation collection grows by one document per refresh
    // until the retention sweep removes them.
    const sessionIds = (
      await models.sessions
        .find({}, { projection: { _id: 1 } })
        .limit(1_000)
        .toArray()
    ).map((s) => s._id);
    const rate = result.seedDocsPerSecond || 5_000;
    const fits = Math.floor(((remaining() - 45_000) / 1000) * rate * 0.9);
    const count = Math.max(0, Math.min(ROTATIONS, Math.floor(fits / 10_000) * 10_000));
    if (count === 0) {
      result.rotations = {
        count: 0,
        seedSeconds: 0,
        refresh: { n: 0, p50: 0, p99: 0 },
        skippedReason: "no budget left for seeding rotations",
      };
    } else {
      log(`${backend}: seeding ${count} rotations`);
      const seedStarted = Date.now();
      await seedRotations(models, count, sessionIds);
      const chains: Pair[] = [];
      for (let i = 0; i < 8; i++) chains.push(await persist(() => signin(url, seedName(i))));
      let chain = 0;
      const refresh = await measure(SAMPLES.refresh, (_i, timed) =>
        refreshChain(url, chains, chain++ % chains.length, timed, seedName(0)),
      );
      result.rotations = {
        count,
        seedSeconds: round((Date.now() - seedStarted) / 1000),
        refresh,
        skippedReason:
          count < ROTATIONS
            ? `seeding ${ROTATIONS.toLocaleString("en")} rotations (a document each) would not fit the budget at ${rate} documents/s`
            : undefined,
      };
      log(`${backend} after ${count} rotations: refresh ${JSON.stringify(refresh)}`);
    }
    return result;
  } finally {
    await server?.stop();
    await disconnectDatabase().catch(() => undefined);
    await database.stop();
    await fs.rm(folder, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// Report

const REQUEST_ROWS = [
  ["signin", "signin"],
  ["refresh", "refreshToken"],
  ["signup", "signup"],
  ["mySessions", "mySessions"],
  ["revokeOtherSessions", "revokeOtherSessions"],
  ["usersSearch", "users(search:) by prefix"],
  ["usersPage", "users(first: 100, after:) paging"],
] as const;

/** Ratios that the issue sets a target for; the admin queries are reported, not judged. */
const JUDGED = new Set(["signin", "refresh", "signup", "mySessions", "revokeOtherSessions"]);

function ratioText(value: number, base: number, judged: boolean): string {
  if (base <= 0) return "–";
  const ratio = value / base;
  if (!judged) return `${ratio.toFixed(2)}×`;
  return `${ratio.toFixed(2)}× ${ratio <= TARGET_RATIO ? "met" : "missed"}`;
}

function markdown(results: BackendResult[], seconds: number): string {
  const lines = [
    "# Scale benchmark",
    "",
    `\`npm run bench:scale\` on ${os.cpus().length} × ${os.cpus()[0]?.model ?? "CPU"}, ` +
      `Node ${process.version}, ${new Date().toISOString().slice(0, 10)}; ${Math.round(seconds)} s in all. ` +
      `BCRYPT_ROUNDS=${ROUNDS}, ${CONCURRENCY} requests in flight (1 for revokeOtherSessions and ` +
      `the admin queries). Latencies in ms (p50 / p99 of the samples; with ${SAMPLES.signin}–` +
      `${SAMPLES.refresh} samples p99 is close to the slowest). Ratio: p50 at this size over p50 at ` +
      `1,000 accounts; target ≤ ${TARGET_RATIO}×.`,
    "",
    "Each seeded account was signed up, signed in once and refreshed once (12 documents: the " +
      "account, its username and email claims, its session list, a session and its activity, " +
      "the signin's refresh token, the rotation that spent it, its last signin, and their " +
      "versions).",
    "",
  ];
  for (const result of results) {
    const base = result.sizes[0];
    lines.push(`## FerretDB on ${result.backend === "sqlite" ? "SQLite" : "PostgreSQL"}`, "");
    const header = [
      "request",
      ...result.sizes.map((s) => `${s.accounts.toLocaleString("en")} accounts`),
    ];
    lines.push(`| ${header.join(" | ")} |`, `|${header.map(() => "---").join("|")}|`);
    for (const [key, label] of REQUEST_ROWS) {
      const cells = result.sizes.map((s, i) => {
        const value = s[key];
        const failed = value.errors ? `, ${value.errors} failed` : "";
        const text = `${value.p50} / ${value.p99}${failed}`;
        return i === 0 || !base
          ? text
          : `${text} (${ratioText(value.p50, base[key].p50, JUDGED.has(key))})`;
      });
      lines.push(`| ${label} | ${cells.join(" | ")} |`);
    }
    if (base) {
      lines.push(
        "",
        "Single operations by `_id` on a collection holding one document per account (`user_activity`), " +
          "10 each, one at a time, p50 / p99 ms:",
        "",
      );
      lines.push(`| ${header.join(" | ")} |`, `|${header.map(() => "---").join("|")}|`);
      for (const op of PRIMITIVES) {
        const cells = result.sizes.map((s, i) => {
          const value = s.primitives[op];
          const text = `${value.p50} / ${value.p99}`;
          return i === 0
            ? text
            : `${text} (${ratioText(value.p50, base.primitives[op].p50, false)})`;
        });
        const label = op === "upsert" ? "replaceOne, upsert" : op;
        lines.push(`| ${label} | ${cells.join(" | ")} |`);
      }
    }
    if (result.rotations && base) {
      const r = result.rotations;
      lines.push(
        "",
        r.count > 0
          ? `refreshToken after ${r.count.toLocaleString("en")} rotations in the database: ` +
              `${r.refresh.p50} / ${r.refresh.p99} ms (${ratioText(r.refresh.p50, base.refresh.p50, true)} vs 1,000 accounts).`
          : `refreshToken after rotations: not measured (${r.skippedReason}).`,
      );
      if (r.count > 0 && r.skippedReason) lines.push(`Fewer than 1,000,000: ${r.skippedReason}.`);
    }
    for (const skipped of result.skipped) {
      lines.push(
        "",
        `${skipped.accounts.toLocaleString("en")} accounts not measured: ${skipped.reason}.`,
      );
    }
    lines.push(
      "",
      `Seeding: ${result.seedDocsPerSecond.toLocaleString("en")} documents/s in bulk.`,
      "",
    );
  }
  return lines.join("\n");
}

async function main(): Promise<void> {
  const started = Date.now();
  const only = process.env.SCALE_BACKENDS?.split(",") as Backend[] | undefined;
  const results: BackendResult[] = [];
  for (const backend of only ?? (["sqlite", "postgres"] as Backend[])) {
    log(`backend ${backend}`);
    results.push(await runBackend(backend));
  }
  const seconds = (Date.now() - started) / 1000;
  await fs.mkdir(RESULTS_DIR, { recursive: true });
  await fs.writeFile(
    path.join(RESULTS_DIR, "scale.json"),
    `${JSON.stringify({ date: new Date().toISOString(), seconds: round(seconds), results }, null, 2)}\n`,
  );
  // Written as Prettier would, so `npm run lint` (prettier --check .) stays clean.
  const file = path.join(RESULTS_DIR, "scale.md");
  const config = (await prettier.resolveConfig(file)) ?? {};
  await fs.writeFile(
    file,
    await prettier.format(markdown(results, seconds), { ...config, filepath: file }),
  );
  log(`done in ${Math.round(seconds)} s: bench/results/scale.md`);
  process.stdout.write(markdown(results, seconds));
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
