import { promises as fs } from "node:fs";
import os from "node:os";
import path from "node:path";
import mongoose from "mongoose";
import { hashRefreshToken } from "../src/auth/refresh-token-secrets";
import { connectWithRetry, disconnectDatabase, withDatabaseName } from "../src/db/connection";
import { freePort, locateFerretdb, startFerretdb, type RunningDatabase } from "../src/db/ferretdb";
import {
  PublicContentDocument,
  RefreshTokenDocument,
  SigninDocument,
  SignupDocument,
  UserContentDocument,
} from "./generated/graphql";
import { ADMIN, expectData, expectError, newAccount, sleep } from "./setup/kit";
import { killServerProcesses, spawnServer } from "./setup/server-process";
import { startTestServer, type GraphQLResponse, type TestServer } from "./setup/test-server";

/** Anything that sends operations: an in-process test server or a spawned server process. */
type Client = Pick<TestServer, "execute">;

/**
 * A request that needs the database must be answered within this, up or down: no hang. Each
 * database operation gives up after 3 s (src/db/connection.ts), and a signin makes several in
 * a row, so an outage can catch one request in two of them; a loaded machine adds the rest.
 * A sanity bound in seconds, not a latency target (those are in `npm run bench`).
 */
const ANSWER_WITHIN_MS = 12_000;

/** FerretDB on a fixed port and data directory, so it can be stopped and started again. */
class RestartableDatabase {
  private running: RunningDatabase | undefined;

  constructor(
    private readonly binary: string,
    readonly port: number,
    readonly dataDir: string,
  ) {}

  get uri(): string {
    return `mongodb://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    if (this.running) return;
    this.running = await startFerretdb({
      binary: this.binary,
      dataDir: this.dataDir,
      port: this.port,
      log: () => undefined,
    });
  }

  async stop(): Promise<void> {
    const running = this.running;
    this.running = undefined;
    await running?.stop();
  }
}

async function timed<T>(
  send: () => Promise<GraphQLResponse<T>>,
): Promise<{ response: GraphQLResponse<T>; ms: number }> {
  const started = Date.now();
  const response = await send();
  return { response, ms: Date.now() - started };
}

function errorCode(response: GraphQLResponse<unknown>): string | undefined {
  const code = response.errors?.[0]?.extensions?.code;
  return typeof code === "string" ? code : undefined;
}

async function readyz(origin: string): Promise<number> {
  return (await fetch(`${origin}/readyz`)).status;
}

/** Polls until `probe` returns true; returns how long it took, or throws after `timeoutMs`. */
async function waitUntil(
  what: string,
  probe: () => Promise<boolean>,
  timeoutMs = 10_000,
): Promise<number> {
  const started = Date.now();
  for (;;) {
    if (await probe()) return Date.now() - started;
    if (Date.now() - started > timeoutMs) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await sleep(100);
  }
}

/** The refresh token from a payload; these tests use the body transport, where it is set. */
function refreshTokenOf(payload: { refreshToken?: string | null }): string {
  if (!payload.refreshToken) throw new Error("expected a refresh token in the response body");
  return payload.refreshToken;
}

/** What the server logged as unexpected errors (masked as INTERNAL_SERVER_ERROR for clients). */
function loggedErrors(server: TestServer): string[] {
  return server.logs.flatMap((line) => {
    const entry = JSON.parse(line) as {
      level: number;
      msg: string;
      err?: { type?: string; code?: unknown; message?: string };
    };
    const err = entry.err;
    return entry.level >= 50 ? [`${entry.msg}: ${err?.type} (${err?.code}) ${err?.message}`] : [];
  });
}

const signinWith = (client: Client, account: { username: string; password: string }) =>
  client.execute(SigninDocument, {
    input: { username: account.username, password: account.password },
  });

describe("database faults", () => {
  let db: RestartableDatabase;
  let dataDir: string;
  let server: TestServer | undefined;
  /** Traffic still running when a test failed early; stopped before the next test. */
  let traffic: { stop(): Promise<Outcome[]> } | undefined;

  afterEach(async () => {
    await traffic?.stop();
    traffic = undefined;
  });

  beforeAll(async () => {
    const binary = await locateFerretdb(() => undefined);
    if (!binary) {
      throw new Error("these tests stop and restart FerretDB, which needs Go to build it");
    }
    dataDir = await fs.mkdtemp(path.join(os.tmpdir(), "graphql-jwt-auth-faults-"));
    db = new RestartableDatabase(binary, await freePort(), dataDir);
  });

  afterAll(async () => {
    await killServerProcesses();
    await server?.close();
    await disconnectDatabase();
    await db?.stop();
    if (dataDir) await fs.rm(dataDir, { recursive: true, force: true });
  });

  /** The in-process server for the tests below, on a database of this file's own FerretDB. */
  async function inProcessServer(): Promise<TestServer> {
    await db.start();
    if (!server) {
      await connectWithRetry(withDatabaseName(db.uri, "faults"));
      // The strict reuse rule: a cut-off refresh presented again is then either a replay or a
      // first use, with no grace in between.
      server = await startTestServer({ REFRESH_REUSE_GRACE: "0" });
    }
    return server;
  }

  it("a server started before its database is live, refuses database work with SERVICE_UNAVAILABLE, and serves once the database comes up", async () => {
    const late = await spawnServer({
      env: {
        MONGODB_URI: withDatabaseName(db.uri, "faults_late_start"),
        ADMIN_USERNAME: ADMIN.username,
        ADMIN_EMAIL: ADMIN.email,
        ADMIN_PASSWORD: ADMIN.password,
      },
    });
    const origin = late.origin;

    expect((await fetch(`${origin}/healthz`)).status).toBe(200);
    expect(await readyz(origin)).toBe(503);

    const account = newAccount("late");
    const signinDown = await timed(() => signinWith(late, account));
    expectError(signinDown.response, "SERVICE_UNAVAILABLE");
    expect(signinDown.ms).toBeLessThan(ANSWER_WITHIN_MS);
    const signupDown = await timed(() => late.execute(SignupDocument, { input: account }));
    expectError(signupDown.response, "SERVICE_UNAVAILABLE");
    expect(signupDown.ms).toBeLessThan(ANSWER_WITHIN_MS);
    expect(expectData(await late.execute(PublicContentDocument)).publicContent).toBe(
      "Public Content.",
    );

    await db.start();
    const readyAfterMs = await waitUntil("/readyz 200", async () => (await readyz(origin)) === 200);
    expect(readyAfterMs).toBeLessThan(8_000);

    // Same process, no restart: signup, signin, and the initial admin made once the database came up.
    expect(expectData(await late.execute(SignupDocument, { input: account })).signup.username).toBe(
      account.username,
    );
    const session = expectData(await signinWith(late, account)).signin;
    expect(session.user.username).toBe(account.username);
    expect(expectData(await signinWith(late, ADMIN)).signin.user.roles).toContain("ADMIN");

    expect(await late.stop("SIGTERM")).toBe(0);
  });

  it("losing the database while serving fails database work fast with SERVICE_UNAVAILABLE, keeps token-only fields working, and resumes by itself", async () => {
    const server = await inProcessServer();
    const account = newAccount("outage");
    expectData(await server.execute(SignupDocument, { input: account }));
    const session = expectData(await signinWith(server, account)).signin;
    // An account of its own: the traffic's signins (as many as the machine's speed allows)
    // would otherwise push this session out of the account's 50 (SESSION_LIMIT).
    const keeper = newAccount("keeper");
    expectData(await server.execute(SignupDocument, { input: keeper }));
    const keptForLater = expectData(await signinWith(server, keeper)).signin;

    traffic = startTraffic(server, account, session.accessToken);
    await sleep(600);

    await db.stop();
    const downFrom = Date.now();

    expect(await readyz(server.origin)).toBe(503);
    const signinDown = await timed(() => signinWith(server, account));
    expectError(signinDown.response, "SERVICE_UNAVAILABLE");
    expect(signinDown.ms).toBeLessThan(ANSWER_WITHIN_MS);
    const refreshDown = await timed(() =>
      server.execute(RefreshTokenDocument, { refreshToken: refreshTokenOf(keptForLater) }),
    );
    expectError(refreshDown.response, "SERVICE_UNAVAILABLE");
    expect(refreshDown.ms).toBeLessThan(ANSWER_WITHIN_MS);
    const userContent = await server.execute(UserContentDocument, undefined, {
      token: session.accessToken,
    });
    expect(expectData(userContent).userContent).toBe("User Content.");
    expect(expectData(await server.execute(PublicContentDocument)).publicContent).toBe(
      "Public Content.",
    );
    // Long enough for several of the traffic's requests to start and run into the 3 s
    // operation limit while the database is away.
    await sleep(Math.max(0, downFrom + 9_000 - Date.now()));

    const downUntil = Date.now();
    await db.start();
    const recoveredAfterMs = await waitUntil(
      "signin after the database came back",
      async () => errorCode(await signinWith(server, account)) === undefined,
    );
    const recoveredAt = Date.now();
    expect(recoveredAfterMs).toBeLessThan(8_000);
    await waitUntil("/readyz 200", async () => (await readyz(server.origin)) === 200, 3_000);
    await sleep(500);
    const outcomes = await traffic.stop();
    traffic = undefined;

    // No hang, no masked crash: every request got an answer in time, and the only error is
    // SERVICE_UNAVAILABLE.
    expect(outcomes.filter((o) => o.end - o.start >= ANSWER_WITHIN_MS)).toEqual([]);
    expect(loggedErrors(server)).toEqual([]);
    expect(new Set(outcomes.flatMap((o) => (o.code ? [o.code] : [])))).toEqual(
      new Set(["SERVICE_UNAVAILABLE"]),
    );

    const down = outcomes.filter((o) => o.start >= downFrom && o.end <= downUntil);
    const needsDb = down.filter((o) => o.op === "signin" || o.op === "refresh");
    const tokenOnly = down.filter((o) => o.op === "userContent" || o.op === "publicContent");
    expect(needsDb.length).toBeGreaterThan(0);
    expect(needsDb.filter((o) => o.code !== "SERVICE_UNAVAILABLE")).toEqual([]);
    expect(tokenOnly.length).toBeGreaterThan(0);
    expect(tokenOnly.filter((o) => o.code !== undefined)).toEqual([]);

    const after = outcomes.filter((o) => o.start >= recoveredAt);
    expect(after.some((o) => o.op === "signin" || o.op === "refresh")).toBe(true);
    expect(after.filter((o) => o.code !== undefined)).toEqual([]);

    // What was stored before the outage is still there: the user and an unspent session.
    const refreshed = expectData(
      await server.execute(RefreshTokenDocument, { refreshToken: refreshTokenOf(keptForLater) }),
    ).refreshToken;
    expect(refreshed.user.username).toBe(keeper.username);
  });

  it("signups and refreshes cut off by a database fault leave the old state or the new one, never half of it", async () => {
    const server = await inProcessServer();
    const holders = await Promise.all(
      Array.from({ length: 8 }, async () => {
        const account = newAccount("holder");
        expectData(await server.execute(SignupDocument, { input: account }));
        return refreshTokenOf(expectData(await signinWith(server, account)).signin);
      }),
    );

    let stopping = false;
    const signups: { account: ReturnType<typeof newAccount>; code: string | undefined }[] = [];
    const refreshes: { token: string; code: string | undefined }[] = [];
    const signupWorker = async () => {
      while (!stopping) {
        const account = newAccount("burst");
        const response = await server.execute(SignupDocument, { input: account });
        signups.push({ account, code: errorCode(response) });
      }
    };
    const refreshWorker = async (first: string) => {
      let token = first;
      while (!stopping) {
        const response = await server.execute(RefreshTokenDocument, { refreshToken: token });
        const code = errorCode(response);
        refreshes.push({ token, code });
        // A failed rotation is checked below; this session stops here.
        if (code !== undefined) return;
        token = refreshTokenOf(expectData(response).refreshToken);
      }
    };
    const workers = [
      ...Array.from({ length: 8 }, () => signupWorker()),
      ...holders.map((token) => refreshWorker(token)),
    ];

    try {
      await sleep(400);
      await db.stop();
      // Longer than the driver's server-selection timeout, so requests fail instead of waiting.
      await sleep(3_000);
      await db.start();
      await waitUntil("/readyz 200", async () => (await readyz(server.origin)) === 200);
    } finally {
      stopping = true;
      await Promise.allSettled(workers);
    }
    await Promise.all(workers);

    const failedSignups = signups.filter((s) => s.code !== undefined);
    const failedRefreshes = refreshes.filter((r) => r.code !== undefined);
    // The fault hit the burst: some requests went through, some were cut off.
    expect(signups.length - failedSignups.length).toBeGreaterThan(0);
    expect(refreshes.length - failedRefreshes.length).toBeGreaterThan(0);
    expect(failedSignups.length).toBeGreaterThan(0);
    expect(failedRefreshes.length).toBeGreaterThan(0);
    expect(loggedErrors(server)).toEqual([]);
    expect(new Set([...failedSignups, ...failedRefreshes].map((f) => f.code))).toEqual(
      new Set(["SERVICE_UNAVAILABLE"]),
    );

    const database = mongoose.connection.db!;
    const users = await database.collection("users").find().toArray();
    const incomplete = users.filter(
      (u) =>
        typeof u.passwordHash !== "string" ||
        !u.passwordHash.startsWith("$2") ||
        typeof u.email !== "string" ||
        typeof u.usernameKey !== "string" ||
        !Array.isArray(u.roles) ||
        u.roles.length === 0,
    );
    expect(incomplete).toEqual([]);

    // Rotation is a unique insert keyed by the spent node: one successor per node at most,
    // and every token belongs to a session and an account that exist.
    const tokens = await database.collection("refresh_tokens").find().toArray();
    const rotations = await database.collection("refresh_rotations").find().toArray();
    const sessionIds = new Set(
      (await database.collection("sessions").find().toArray()).map((s) => String(s._id)),
    );
    const userIds = new Set(users.map((u) => String(u._id)));
    expect(tokens.filter((t) => !sessionIds.has(String(t.sessionId)))).toEqual([]);
    expect(tokens.filter((t) => !userIds.has(String(t.userId)))).toEqual([]);
    expect(rotations.filter((r) => !sessionIds.has(String(r.sessionId)))).toEqual([]);
    const children = rotations.map((r) => String(r.child));
    expect(new Set(children).size).toBe(children.length);

    // Each cut-off signup either happened whole (it signs in) or can be sent again and
    // succeeds: an account it left half-made gives its names back to the same signup.
    for (const { account } of failedSignups) {
      const stored = users.find(
        (u) => u.usernameKey === account.username.toLowerCase() && u.status === "active",
      );
      if (stored) {
        expect(expectData(await signinWith(server, account)).signin.user.username).toBe(
          account.username,
        );
      } else {
        expect(
          expectData(await server.execute(SignupDocument, { input: account })).signup.username,
        ).toBe(account.username);
        expect(expectData(await signinWith(server, account)).signin.user.username).toBe(
          account.username,
        );
      }
    }

    // Each cut-off refresh either spent its token (its node has a rotation: presenting it again
    // is a replay) or did not (it still rotates).
    const spentNodes = new Set(rotations.map((r) => String(r._id)));
    // A first token is stored by its hash; a rotated one (<spent node>.<secret>) by the
    // rotation record that issued it, whose child is the token's node.
    const nodeOf = (token: string) =>
      token.includes(".")
        ? rotations.find((r) => String(r._id) === token.slice(0, token.indexOf(".")))?.child
        : tokens.find((t) => String(t._id) === hashRefreshToken(token))?.node;
    for (const { token } of failedRefreshes) {
      const node = nodeOf(token);
      expect(node).toBeDefined();
      const again = await server.execute(RefreshTokenDocument, { refreshToken: token });
      if (spentNodes.has(String(node))) {
        expectError(again, "UNAUTHENTICATED", "REFRESH_TOKEN_REUSED");
      } else {
        expect(expectData(again).refreshToken.refreshToken).not.toBe(token);
      }
    }
  });
});

type Op = "signin" | "refresh" | "userContent" | "publicContent";

interface Outcome {
  op: Op;
  start: number;
  end: number;
  /** extensions.code of the error, undefined for a success. */
  code: string | undefined;
}

/**
 * Four clients cycling through signin, refresh, userContent and publicContent until stopped.
 * Each keeps its own session chain; a failed rotation drops the chain and the next refresh
 * turn signs in again, so no client ever replays a token.
 */
function startTraffic(
  server: TestServer,
  account: { username: string; password: string },
  accessToken: string,
): { stop(): Promise<Outcome[]> } {
  const outcomes: Outcome[] = [];
  let stopping = false;
  const ops: Op[] = ["signin", "refresh", "userContent", "publicContent"];

  const record = async <T>(op: Op, send: () => Promise<GraphQLResponse<T>>) => {
    const start = Date.now();
    const response = await send();
    const outcome = { op, start, end: Date.now(), code: errorCode(response) };
    outcomes.push(outcome);
    return { response, outcome };
  };

  const turn = async (op: Op, chain: string | undefined): Promise<string | undefined> => {
    if (op === "signin" || (op === "refresh" && chain === undefined)) {
      const { response, outcome } = await record("signin", () => signinWith(server, account));
      return outcome.code === undefined ? refreshTokenOf(expectData(response).signin) : chain;
    }
    if (op === "refresh") {
      const { response, outcome } = await record("refresh", () =>
        server.execute(RefreshTokenDocument, { refreshToken: chain! }),
      );
      return outcome.code === undefined
        ? refreshTokenOf(expectData(response).refreshToken)
        : undefined;
    }
    if (op === "userContent") {
      await record(op, () =>
        server.execute(UserContentDocument, undefined, { token: accessToken }),
      );
    } else {
      await record(op, () => server.execute(PublicContentDocument));
    }
    return chain;
  };

  const client = async (offset: number) => {
    let chain: string | undefined;
    for (let n = offset; !stopping; n++) {
      const op = ops[n % ops.length]!;
      try {
        chain = await turn(op, chain);
      } catch {
        // No HTTP answer at all: the server is gone. Recorded, so the test fails on it.
        outcomes.push({ op, start: Date.now(), end: Date.now(), code: "NO_RESPONSE" });
        return;
      }
      await sleep(20);
    }
  };

  const clients = [0, 1, 2, 3].map((offset) => client(offset));
  return {
    async stop() {
      stopping = true;
      await Promise.all(clients);
      return outcomes;
    },
  };
}
