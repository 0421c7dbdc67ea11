import { spawn } from "node:child_process";
import { ConfigError, loadConfig } from "../src/config";
import { SERVER_SCRIPT } from "./setup/server-process";

function problemsOf(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  return [];
}

describe("configuration from the environment", () => {
  it("signs with managed ES256 keys by default, and with HS256 when JWT_SECRET is set", () => {
    const managed = loadConfig({});
    expect(managed.jwt).toMatchObject({
      algorithm: "ES256",
      secret: undefined,
      secretGenerated: false,
      privateKeyPem: undefined,
      keyRotationSeconds: 604_800,
      claimsPreset: "none",
    });
    const shared = loadConfig({ JWT_SECRET: "x".repeat(32) });
    expect(shared.jwt).toMatchObject({ algorithm: "HS256", secret: "x".repeat(32) });
    expect(problemsOf({ JWT_SECRET: "x".repeat(32), JWT_ALGORITHM: "ES256" })).toEqual([
      "JWT_SECRET is only used with JWT_ALGORITHM=HS256, not ES256",
    ]);
    expect(
      problemsOf({ NODE_ENV: "production", MONGODB_URI: "mongodb://db/x", EMAIL_ENABLED: "false" }),
    ).toEqual([
      expect.stringMatching(/^JWT_KEY_ENCRYPTION_SECRET is required when NODE_ENV=production/),
    ]);
    expect(problemsOf({ JWT_ALGORITHM: "RS256", JWT_PRIVATE_KEY: "-----BEGIN nonsense" })).toEqual([
      "JWT_PRIVATE_KEY is not a PEM private key",
    ]);
  });

  it("has working defaults outside production, with a random JWT secret per start for HS256", () => {
    const first = loadConfig({ JWT_ALGORITHM: "HS256" });
    const second = loadConfig({ JWT_ALGORITHM: "HS256" });
    expect(first).toMatchObject({
      nodeEnv: "development",
      port: 4000,
      accessTokenTtlSeconds: 900,
      refreshTokenTtlSeconds: 604_800,
      sessionMaxAgeSeconds: 2_592_000,
      bcryptRounds: 12,
      mongodbUri: undefined,
      corsOrigins: [],
    });
    expect(first.jwt.secretGenerated).toBe(true);
    expect(first.jwt.secret!.length).toBeGreaterThanOrEqual(32);
    expect(second.jwt.secret).not.toBe(first.jwt.secret);
    expect(Object.isFrozen(first)).toBe(true);
  });

  it("lists every invalid value at once, one line each", () => {
    const problems = problemsOf({
      PORT: "eighty",
      ACCESS_TOKEN_TTL: "-5",
      BCRYPT_ROUNDS: "40",
      JWT_SECRET: "short",
      MONGODB_URI: "postgres://nope",
      CORS_ORIGINS: "not an origin",
      ADMIN_USERNAME: "admin",
    });
    expect(problems).toEqual([
      expect.stringMatching(/^PORT must be a number/),
      expect.stringMatching(/^MONGODB_URI must start with mongodb:\/\//),
      expect.stringMatching(/^ACCESS_TOKEN_TTL must be greater than 0/),
      expect.stringMatching(/^BCRYPT_ROUNDS must be between 4 and 15/),
      expect.stringMatching(/^JWT_SECRET must be at least 32 characters/),
      expect.stringMatching(/^ADMIN_USERNAME, ADMIN_EMAIL and ADMIN_PASSWORD must be set together/),
      expect.stringMatching(/^CORS_ORIGINS entry "not an origin"/),
    ]);
  });

  it("requires signing keys that are safe at rest, a database and a real bcrypt cost in production", () => {
    expect(problemsOf({ NODE_ENV: "production", JWT_ALGORITHM: "HS256" })).toEqual(
      expect.arrayContaining([
        "JWT_SECRET is required for JWT_ALGORITHM=HS256 when NODE_ENV=production",
      ]),
    );
    const problems = problemsOf({ NODE_ENV: "production", BCRYPT_ROUNDS: "8" });
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^JWT_KEY_ENCRYPTION_SECRET is required when NODE_ENV=production/),
        expect.stringMatching(/^MONGODB_URI is required when NODE_ENV=production/),
        "BCRYPT_ROUNDS must be at least 10 when NODE_ENV=production",
      ]),
    );
  });

  it("turns introspection and the IDE off in production unless asked for", () => {
    const production = {
      NODE_ENV: "production",
      JWT_SECRET: "x".repeat(32),
      MONGODB_URI: "mongodb://127.0.0.1:27017/auth",
      EMAIL_ENABLED: "false",
    };
    expect(loadConfig(production).graphql).toMatchObject({ introspection: false, ide: false });
    expect(
      loadConfig({ ...production, GRAPHQL_INTROSPECTION: "true", GRAPHQL_IDE: "true" }).graphql,
    ).toMatchObject({ introspection: true, ide: true });
  });

  it("serves metrics outside production, and in production only when asked or given a port", () => {
    const production = {
      NODE_ENV: "production",
      JWT_SECRET: "x".repeat(32),
      MONGODB_URI: "mongodb://127.0.0.1:27017/auth",
      EMAIL_ENABLED: "false",
    };
    expect(loadConfig({}).metrics).toEqual({ enabled: true, port: undefined });
    expect(loadConfig(production).metrics).toEqual({ enabled: false, port: undefined });
    expect(loadConfig({ ...production, METRICS_ENABLED: "true" }).metrics).toEqual({
      enabled: true,
      port: undefined,
    });
    expect(loadConfig({ ...production, METRICS_PORT: "9464" }).metrics).toEqual({
      enabled: true,
      port: 9464,
    });
    expect(problemsOf({ METRICS_PORT: "9464", METRICS_ENABLED: "false" })).toEqual([
      "METRICS_PORT serves the metrics: it cannot be set with METRICS_ENABLED=false",
    ]);
    expect(problemsOf({ PORT: "9464", METRICS_PORT: "9464" })).toEqual([
      "METRICS_PORT must differ from PORT (unset it to serve /metrics on PORT)",
    ]);
    expect(problemsOf({ METRICS_PORT: "70000" })).toEqual([
      "METRICS_PORT must be between 0 and 65535",
    ]);
  });

  it("bounds how long a client may take to send a request: 10 s for headers, 30 s in all", () => {
    expect(loadConfig({}).httpTimeouts).toEqual({
      headersSeconds: 10,
      requestSeconds: 30,
      keepAliveSeconds: 5,
    });
    expect(
      problemsOf({
        HTTP_HEADERS_TIMEOUT: "0",
        HTTP_REQUEST_TIMEOUT: "soon",
        HTTP_KEEP_ALIVE_TIMEOUT: "1.5",
      }),
    ).toEqual([
      "HTTP_HEADERS_TIMEOUT must be greater than 0",
      "HTTP_REQUEST_TIMEOUT must be a whole number of seconds",
      "HTTP_KEEP_ALIVE_TIMEOUT must be a whole number of seconds",
    ]);
    // The headers are part of the request: they cannot be given longer than all of it.
    expect(problemsOf({ HTTP_HEADERS_TIMEOUT: "60" })).toEqual([
      "HTTP_HEADERS_TIMEOUT must not be longer than HTTP_REQUEST_TIMEOUT",
    ]);
  });

  it("reads TRUST_PROXY as false, true, a hop count, or proxy addresses and subnets", () => {
    const trustProxy = (value: string) => loadConfig({ TRUST_PROXY: value }).trustProxy;
    expect(trustProxy("false")).toBe(false);
    expect(trustProxy("0")).toBe(false);
    expect(trustProxy("true")).toBe(true);
    expect(trustProxy("2")).toBe(2);
    expect(
      trustProxy("10.0.0.1, 10.0.0.0/8, 192.168.0.0/255.255.0.0, ::1, fd00::/8, loopback"),
    ).toEqual(["10.0.0.1", "10.0.0.0/8", "192.168.0.0/255.255.0.0", "::1", "fd00::/8", "loopback"]);
    expect(problemsOf({ TRUST_PROXY: "10.0.0.0/33, proxy.example.com, yes" })).toEqual([
      expect.stringMatching(/^TRUST_PROXY entry "10.0.0.0\/33"/),
      expect.stringMatching(/^TRUST_PROXY entry "proxy.example.com"/),
      expect.stringMatching(/^TRUST_PROXY entry "yes"/),
    ]);
  });

  it("holds the initial admin to the signup rules, naming the variable at fault", () => {
    expect(
      problemsOf({
        ADMIN_USERNAME: "admin",
        ADMIN_EMAIL: "admin@example.com",
        ADMIN_PASSWORD: "short",
      }),
    ).toEqual([expect.stringMatching(/^ADMIN_PASSWORD is not valid for the initial admin: .*8/)]);
  });

  it("stops the server with one line per problem and exit code 1", async () => {
    const child = spawn(process.execPath, [SERVER_SCRIPT], {
      env: { PATH: process.env.PATH ?? "", PORT: "99999", SESSION_MAX_AGE: "soon" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
    expect(code).toBe(1);
    expect(stderr.trim().split("\n")).toEqual([
      "config: PORT must be between 0 and 65535",
      "config: SESSION_MAX_AGE must be a whole number of seconds",
    ]);
  });
});
