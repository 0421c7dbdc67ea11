import { RefreshTokenDocument, SigninDocument, SignupDocument } from "./generated/graphql";
import { connectTestDatabase, disconnectTestDatabase } from "./setup/database";
import { expectData, expectError, inBody, newAccount } from "./setup/kit";
import { startTestServer, type TestServer } from "./setup/test-server";

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The samples of a Prometheus text scrape (comments skipped). */
function parseScrape(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match) throw new Error(`not a Prometheus sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, key, value] of (match[2] ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) {
      labels[key!] = value!;
    }
    samples.push({ name: match[1]!, labels, value: Number(match[3]) });
  }
  return samples;
}

class Scrape {
  constructor(
    readonly text: string,
    private readonly samples: Sample[],
  ) {}

  static async of(url: string): Promise<Scrape> {
    const response = await fetch(url);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toMatch(/^text\/plain/);
    const text = await response.text();
    return new Scrape(text, parseScrape(text));
  }

  /** The sample with exactly these labels (le aside), 0 when there is none yet. */
  value(name: string, labels: Record<string, string> = {}): number {
    const wanted = Object.entries(labels);
    const found = this.samples.find(
      (sample) =>
        sample.name === name &&
        Object.keys(sample.labels).length === wanted.length &&
        wanted.every(([key, value]) => sample.labels[key] === value),
    );
    return found?.value ?? 0;
  }
}

/** How much each named sample moved between two scrapes. */
function moved(
  before: Scrape,
  after: Scrape,
  samples: [name: string, labels: Record<string, string>][],
): Record<string, number> {
  return Object.fromEntries(
    samples.map(([name, labels]) => [
      `${name}${JSON.stringify(labels)}`,
      after.value(name, labels) - before.value(name, labels),
    ]),
  );
}

const requests = (operation: string, result: "ok" | "error") =>
  ["graphql_requests_total", { operation, result }] as [string, Record<string, string>];

describe("Prometheus metrics at GET /metrics", () => {
  let server: TestServer;
  let disabled: TestServer;
  let ownPort: TestServer;

  beforeAll(async () => {
    // Database command metrics need the connection's command monitoring, as src/index.ts asks
    // for it when metrics are on.
    await connectTestDatabase({ monitorCommands: true });
    server = await startTestServer({
      // Two failures lock the (account, address) pair: the flow below reaches a lockout.
      SIGNIN_MAX_FAILURES: "2",
      // A replayed refresh token is reuse at once, not a second tab.
      REFRESH_REUSE_GRACE: "0",
    });
    disabled = await startTestServer({ METRICS_ENABLED: "false" });
    ownPort = await startTestServer({ METRICS_PORT: "0" });
  });
  afterAll(async () => {
    await Promise.all([server, disabled, ownPort].map((s) => s?.close()));
    await disconnectTestDatabase();
  });

  it("counts a scripted flow's requests and auth outcomes exactly", async () => {
    const metricsUrl = server.app.metricsUrl!;
    expect(metricsUrl).toBe(`${server.origin}/metrics`);
    // The hasher makes a throwaway hash at start, in the background; this waits for it, so
    // the counts below are the flow's alone.
    await server.app.services.passwords.compareWithDummy("not-the-password");
    const before = await Scrape.of(metricsUrl);

    const account = newAccount();
    expectData(await server.execute(SignupDocument, { input: account }));
    const right = { username: account.username, password: account.password };
    const wrong = { username: account.username, password: "a-wrong-password-1" };
    const session = inBody(
      expectData(await server.execute(SigninDocument, { input: right })).signin,
    );
    expectError(
      await server.execute(SigninDocument, { input: wrong }),
      "UNAUTHENTICATED",
      "INVALID_CREDENTIALS",
    );
    expectData(await server.execute(RefreshTokenDocument, { refreshToken: session.refreshToken }));
    expectError(
      await server.execute(RefreshTokenDocument, { refreshToken: session.refreshToken }),
      "UNAUTHENTICATED",
      "REFRESH_TOKEN_REUSED",
    );
    // The second failure from this address locks the pair; the right password is then refused.
    expectError(
      await server.execute(SigninDocument, { input: wrong }),
      "UNAUTHENTICATED",
      "INVALID_CREDENTIALS",
    );
    expectError(
      await server.execute(SigninDocument, { input: right }),
      "UNAUTHENTICATED",
      "TOO_MANY_ATTEMPTS",
    );
    // Introspection, a field the schema lacks, and a body refused before any operation ran.
    expect((await server.post(JSON.stringify({ query: "{ __typename }" }))).status).toBe(200);
    expect((await server.post(JSON.stringify({ query: "{ noSuchField }" }))).status).toBe(400);
    expect((await server.post("{ not json", {})).status).toBe(400);

    const after = await Scrape.of(metricsUrl);
    expect(
      moved(before, after, [
        ["auth_signins_total", { outcome: "success" }],
        ["auth_signins_total", { outcome: "invalid_credentials" }],
        ["auth_signins_total", { outcome: "throttled" }],
        ["auth_refreshes_total", { outcome: "rotated" }],
        ["auth_refreshes_total", { outcome: "reused_session_revoked" }],
        ["auth_refreshes_total", { outcome: "expired" }],
        ["auth_refreshes_total", { outcome: "invalid" }],
        ["auth_lockouts_total", { scope: "account-address" }],
        ["auth_lockouts_total", { scope: "address" }],
        ["auth_security_events_total", { event: "refresh_token_reused" }],
        requests("signup", "ok"),
        requests("signin", "ok"),
        requests("signin", "error"),
        requests("refreshToken", "ok"),
        requests("refreshToken", "error"),
        requests("introspection", "ok"),
        requests("unknown", "error"),
        ["graphql_request_duration_seconds_count", { operation: "signin" }],
        ["graphql_request_duration_seconds_count", { operation: "refreshToken" }],
        ["password_hashing_duration_seconds_count", { op: "hash" }],
        ["password_hashing_duration_seconds_count", { op: "compare" }],
        ["password_hashing_wait_seconds_count", { op: "compare" }],
      ]),
    ).toEqual({
      'auth_signins_total{"outcome":"success"}': 1,
      'auth_signins_total{"outcome":"invalid_credentials"}': 2,
      'auth_signins_total{"outcome":"throttled"}': 1,
      'auth_refreshes_total{"outcome":"rotated"}': 1,
      'auth_refreshes_total{"outcome":"reused_session_revoked"}': 1,
      'auth_refreshes_total{"outcome":"expired"}': 0,
      'auth_refreshes_total{"outcome":"invalid"}': 0,
      'auth_lockouts_total{"scope":"account-address"}': 1,
      'auth_lockouts_total{"scope":"address"}': 0,
      'auth_security_events_total{"event":"refresh_token_reused"}': 1,
      'graphql_requests_total{"operation":"signup","result":"ok"}': 1,
      'graphql_requests_total{"operation":"signin","result":"ok"}': 1,
      'graphql_requests_total{"operation":"signin","result":"error"}': 3,
      'graphql_requests_total{"operation":"refreshToken","result":"ok"}': 1,
      'graphql_requests_total{"operation":"refreshToken","result":"error"}': 1,
      'graphql_requests_total{"operation":"introspection","result":"ok"}': 1,
      'graphql_requests_total{"operation":"unknown","result":"error"}': 2,
      'graphql_request_duration_seconds_count{"operation":"signin"}': 4,
      'graphql_request_duration_seconds_count{"operation":"refreshToken"}': 2,
      // The signup's hash; the throttled signin never reached bcrypt.
      'password_hashing_duration_seconds_count{"op":"hash"}': 1,
      'password_hashing_duration_seconds_count{"op":"compare"}': 3,
      'password_hashing_wait_seconds_count{"op":"compare"}': 3,
    });
    expect(after.value("password_hashing_queue_depth")).toBe(0);
    // The flow's reads and writes, timed; none failed.
    expect(
      after.value("db_command_duration_seconds_count", { command: "insert" }) -
        before.value("db_command_duration_seconds_count", { command: "insert" }),
    ).toBeGreaterThan(0);
    expect(after.text).not.toMatch(/^db_command_errors_total\{.*\} [1-9]/m);
    // The default process metrics, once.
    expect(after.text.match(/^# TYPE process_cpu_seconds_total /gm)).toHaveLength(1);

    // Nothing that names a user or could be replayed.
    for (const secret of [
      session.accessToken,
      session.refreshToken,
      session.user.id,
      session.sessionId,
      account.username,
      account.email,
      account.password,
    ]) {
      expect(after.text).not.toContain(secret);
    }
  });

  it("labels by root field, never by the client's operation name", async () => {
    const metricsUrl = server.app.metricsUrl!;
    const before = await Scrape.of(metricsUrl);
    const names = ["Totally_Made_Up_Name_7f3a", "Another_Free_Text_Name_91c2"];
    for (const name of names) {
      const body = JSON.stringify({ query: `query ${name} { publicContent }` });
      expect((await server.post(body)).status).toBe(200);
    }
    const after = await Scrape.of(metricsUrl);
    expect(moved(before, after, [requests("publicContent", "ok")])).toEqual({
      'graphql_requests_total{"operation":"publicContent","result":"ok"}': 2,
    });
    for (const name of names) expect(after.text).not.toContain(name);
  });

  it("is not served at all with METRICS_ENABLED=false", async () => {
    expect(disabled.app.metricsUrl).toBeUndefined();
    const response = await fetch(`${disabled.origin}/metrics`);
    expect(response.status).toBe(404);
  });

  it("with METRICS_PORT, is served on that port only, counting its own server's requests", async () => {
    const metricsUrl = ownPort.app.metricsUrl!;
    expect(new URL(metricsUrl).port).not.toBe(new URL(ownPort.origin).port);
    expect((await fetch(`${ownPort.origin}/metrics`)).status).toBe(404);
    expect((await fetch(new URL("/graphql", metricsUrl))).status).toBe(404);

    const before = await Scrape.of(metricsUrl);
    const body = JSON.stringify({ query: "{ publicContent }" });
    expect((await ownPort.post(body)).status).toBe(200);
    // Another server in the same process: its requests are not this one's.
    expect((await server.post(body)).status).toBe(200);
    const after = await Scrape.of(metricsUrl);
    expect(moved(before, after, [requests("publicContent", "ok")])).toEqual({
      'graphql_requests_total{"operation":"publicContent","result":"ok"}': 1,
    });
  });
});
