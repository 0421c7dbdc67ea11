import { spawn } from "node:child_process";
import { promises as fs } from "node:fs";
import os from "node:os";
import path from "node:path";
import { envSchema, type ConfigVariable } from "../src/config";

/** What `npm start` runs (package.json: `exec node scripts/start.mjs`). */
const START_SCRIPT = path.resolve(__dirname, "..", "scripts", "start.mjs");

const ADMIN = { ADMIN_USERNAME: "admin", ADMIN_EMAIL: "admin@example.com" };
const ADMIN_PASSWORD = { ADMIN_PASSWORD: "admin-password-1" };

/**
 * A bad value for every variable the server reads, with the other settings it needs to be
 * judged on its own. Typed by the schema's keys, and compared with them at run time below:
 * a setting added to src/config.ts without a line here fails.
 */
const BAD_VALUES: Record<ConfigVariable, { value: string; with?: Record<string, string> }> = {
  NODE_ENV: { value: "staging" },
  PORT: { value: "eighty" },
  HOST: { value: "not a host!" },
  MONGODB_URI: { value: "postgres://db.example.com/auth" },
  EMBEDDED_DB_BACKEND: { value: "mysql" },
  POSTGRESQL_URL: {
    value: "mongodb://db.example.com/auth",
    with: { EMBEDDED_DB_BACKEND: "postgres" },
  },
  JWT_SECRET: { value: "too-short" },
  JWT_ALGORITHM: { value: "EdDSA" },
  JWT_PRIVATE_KEY: { value: "/nonexistent/key.pem", with: { JWT_ALGORITHM: "ES256" } },
  JWT_KEY_ENCRYPTION_SECRET: { value: "short" },
  JWT_KEY_ROTATION: { value: "weekly" },
  JWT_CLAIMS_PRESET: { value: "auth0" },
  JWT_ISSUER: { value: " graphql-jwt-auth" },
  JWT_AUDIENCE: { value: "graphql-jwt-auth\t" },
  ACCESS_TOKEN_TTL: { value: "15m" },
  REFRESH_TOKEN_TTL: { value: "0" },
  SESSION_MAX_AGE: { value: "-1" },
  BCRYPT_ROUNDS: { value: "40" },
  ADMIN_USERNAME: {
    value: "no spaces allowed",
    with: { ...ADMIN_PASSWORD, ADMIN_EMAIL: "a@example.com" },
  },
  ADMIN_EMAIL: { value: "not-an-email", with: { ...ADMIN_PASSWORD, ADMIN_USERNAME: "admin" } },
  ADMIN_PASSWORD: { value: "short", with: ADMIN },
  CORS_ORIGINS: { value: "app.example.com" },
  TRUST_PROXY: { value: "maybe" },
  GRAPHQL_MAX_DEPTH: { value: "0" },
  GRAPHQL_MAX_ALIASES: { value: "-1" },
  GRAPHQL_MAX_COST: { value: "lots" },
  GRAPHQL_MAX_STRING_LENGTH: { value: "1.5" },
  BODY_LIMIT_BYTES: { value: "10" },
  ALLOW_BATCHED_REQUESTS: { value: "yes" },
  GRAPHQL_INTROSPECTION: { value: "on" },
  GRAPHQL_IDE: { value: "enabled" },
  COOKIE_SECURE: { value: "no" },
  SIGNIN_MAX_FAILURES: { value: "0" },
  SIGNIN_MAX_FAILURES_PER_IP: { value: "many" },
  SIGNIN_MAX_FAILURES_PER_ACCOUNT: { value: "0" },
  SIGNIN_KNOWN_ADDRESS_DAYS: { value: "a month" },
  REFRESH_REUSE_GRACE: { value: "301" },
  REQUIRE_EMAIL_VERIFICATION: { value: "maybe" },
  REVOKED_SESSION_CHECK: { value: "always" },
  EMAIL_ENABLED: { value: "sometimes" },
  SMTP_URL: { value: "http://smtp.example.com" },
  MAIL_FROM: { value: "no-reply at example.com" },
  APP_URL: { value: "app.example.com/reset" },
  EMAIL_VERIFICATION_TTL: { value: "1d" },
  PASSWORD_RESET_TTL: { value: "0" },
  RETENTION_DAYS: { value: "0" },
  SIGNIN_FAILURE_WINDOW: { value: "0" },
  SIGNIN_LOCKOUT_BASE: { value: "1m" },
  SIGNIN_LOCKOUT_MAX: { value: "-900" },
  PASSWORD_WORKERS: { value: "65" },
  SHUTDOWN_TIMEOUT: { value: "never" },
  METRICS_ENABLED: { value: "sometimes" },
  METRICS_PORT: { value: "metrics" },
  HTTP_HEADERS_TIMEOUT: { value: "0" },
  HTTP_REQUEST_TIMEOUT: { value: "half a minute" },
  HTTP_KEEP_ALIVE_TIMEOUT: { value: "2.5" },
  FERRETDB_BIN: { value: "/nonexistent/ferretdb" },
  LOG_LEVEL: { value: "loud" },
};

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  dataFolderCreated: boolean;
}

/** `npm start`'s script in an empty folder with only PATH and the given variables set. */
async function start(env: Record<string, string>): Promise<Run> {
  const cwd = await fs.mkdtemp(path.join(os.tmpdir(), "graphql-jwt-auth-config-"));
  try {
    const child = spawn(process.execPath, [START_SCRIPT], {
      cwd,
      env: { PATH: process.env.PATH ?? "", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.once("close", resolve));
    const dataFolderCreated = await fs.stat(path.join(cwd, ".data")).then(
      () => true,
      () => false,
    );
    return { code, stdout, stderr, dataFolderCreated };
  } finally {
    await fs.rm(cwd, { recursive: true, force: true });
  }
}

/** Runs `work` on every item, `limit` at a time: each run is a Node process, mostly CPU. */
async function inBatches<T, R>(items: T[], limit: number, work: (item: T) => Promise<R>) {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < items.length) {
        const index = next++;
        results[index] = await work(items[index]!);
      }
    }),
  );
  return results;
}

describe("a bad value for any setting stops npm start before it builds or starts anything", () => {
  it("has a bad value here for every variable the server reads", () => {
    expect(Object.keys(BAD_VALUES).sort()).toEqual(Object.keys(envSchema.shape).sort());
  });

  it("names the variable on stderr, exits 1, and starts no server and no database", async () => {
    const cases = Object.entries(BAD_VALUES).map(([name, bad]) => ({
      name,
      env: { ...bad.with, [name]: bad.value },
    }));
    const runs = await inBatches(cases, 2, (c) => start(c.env));

    const outcomes = cases.map((c, i) => {
      const run = runs[i]!;
      const lines = run.stderr.trim().split("\n");
      return {
        name: c.name,
        code: run.code,
        onlyConfigLines: lines.every((line) => line.startsWith("config: ")),
        namesIt: lines.some((line) => line.includes(c.name)),
        stdout: run.stdout,
        dataFolderCreated: run.dataFolderCreated,
      };
    });
    // One table, so a failure shows every setting at once.
    expect(outcomes).toEqual(
      cases.map((c) => ({
        name: c.name,
        code: 1,
        onlyConfigLines: true,
        namesIt: true,
        stdout: "",
        dataFolderCreated: false,
      })),
    );
    // Almost fifty settings, each a node process, two at a time on a machine that may be busy.
  }, 300_000);

  it("TRUST_PROXY=maybe gets a config line instead of a fatal error after the database started", async () => {
    const run = await start({ TRUST_PROXY: "maybe" });
    expect(run.code).toBe(1);
    expect(run.stderr.trim().split("\n")).toEqual([
      expect.stringMatching(
        /^config: TRUST_PROXY entry "maybe" must be an IP address or CIDR subnet/,
      ),
    ]);
  }, 30_000);
});
