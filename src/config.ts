import { createPrivateKey, randomBytes } from "node:crypto";
import { accessSync, constants as fsConstants, readFileSync, statSync } from "node:fs";
import { isIP } from "node:net";
import { availableParallelism } from "node:os";
import { z } from "zod";
import { InputError } from "./errors";
import { assertValidAccount } from "./services/account-rules";

/**
 * The whole runtime configuration, parsed and validated once at start.
 * Every setting comes from the environment (see .env.example); tests build their own
 * configs with `loadConfig({ ...overrides })` so each server instance can have its own TTLs.
 */
export interface Config {
  readonly nodeEnv: "development" | "production" | "test";
  readonly port: number;
  readonly host: string;
  /** Unset: the server starts its own database (FerretDB on embeddedBackend). */
  readonly mongodbUri: string | undefined;
  /** What the server's own FerretDB stores its data in when MONGODB_URI is unset. */
  readonly embeddedBackend: "sqlite" | "postgres";
  /** PostgreSQL for FerretDB (postgres backend); unset: a private cluster in .data/postgres. */
  readonly postgresqlUrl: string | undefined;
  readonly jwt: {
    /** ES256 (default without JWT_SECRET), RS256, or HS256 (default with it). */
    readonly algorithm: "ES256" | "RS256" | "HS256";
    /** HS256 only. */
    readonly secret: string | undefined;
    /** True when HS256 runs without JWT_SECRET on a random secret made for this process. */
    readonly secretGenerated: boolean;
    /** ES256/RS256 with a given key (PEM); unset: keys are generated and rotated by the server. */
    readonly privateKeyPem: string | undefined;
    /** Encrypts managed private keys at rest; required in production for managed keys. */
    readonly keyEncryptionSecret: string | undefined;
    readonly keyRotationSeconds: number;
    readonly claimsPreset: "none" | "hasura";
    readonly issuer: string;
    readonly audience: string;
  };
  readonly accessTokenTtlSeconds: number;
  readonly refreshTokenTtlSeconds: number;
  readonly sessionMaxAgeSeconds: number;
  readonly bcryptRounds: number;
  readonly initialAdmin: { username: string; email: string; password: string } | undefined;
  readonly corsOrigins: readonly string[];
  readonly logLevel: "fatal" | "error" | "warn" | "info" | "debug" | "trace" | "silent";
  /** Whose address is the client's: false (the socket's), a hop count, or trusted proxy addresses. */
  readonly trustProxy: boolean | number | readonly string[];
  readonly graphql: {
    readonly maxDepth: number;
    readonly maxAliases: number;
    readonly maxCost: number;
    readonly maxStringLength: number;
    readonly bodyLimitBytes: number;
    readonly allowBatchedRequests: boolean;
    readonly introspection: boolean;
    readonly ide: boolean;
  };
  readonly signinThrottle: {
    /** Per (account, client address): the limit that stops a guesser. */
    readonly maxFailuresPerPair: number;
    readonly maxFailuresPerIp: number;
    /** Per account across addresses, per hour; past it only known addresses may try. */
    readonly maxFailuresPerAccount: number;
    readonly knownAddressDays: number;
    readonly windowSeconds: number;
    readonly lockoutBaseSeconds: number;
    readonly lockoutMaxSeconds: number;
  };
  /** Seconds a rotated refresh token still gets a pair of its session (two tabs); 0: never. */
  readonly refreshReuseGraceSeconds: number;
  /**
   * Protected fields check in the database that the token's session is still live, on every
   * request: revocation then reaches access tokens at once instead of at their expiry.
   */
  readonly revokedSessionCheck: boolean;
  /** Signin refuses accounts whose email is not verified (after a correct password). */
  readonly requireEmailVerification: boolean;
  /** Email: verification, password reset, notices (src/mail/, account-recovery.service.ts). */
  readonly email: {
    /** False turns off every email feature (no mail, no catcher, recovery mutations refused). */
    readonly enabled: boolean;
    /** smtp:// or smtps:// with credentials; unset outside production: the embedded catcher. */
    readonly smtpUrl: string | undefined;
    /** The From header: an address, or "Name <address>". */
    readonly from: string;
    /** Where the app's pages live (links in mail); unset: this server's own /app. */
    readonly appUrl: string | undefined;
    readonly verificationTtlSeconds: number;
    readonly passwordResetTtlSeconds: number;
  };
  /** Days ended sessions, spent tokens and sent mail are kept before the sweep deletes them. */
  readonly retentionDays: number;
  /** Secure attribute of the refresh token cookie; off only for plain-HTTP localhost. */
  readonly cookieSecure: boolean;
  /** Threads hashing passwords; 0 hashes on the main thread. */
  readonly passwordWorkers: number;
  readonly shutdownTimeoutSeconds: number;
  /** Prometheus metrics at GET /metrics (src/metrics/metrics.ts). */
  readonly metrics: {
    readonly enabled: boolean;
    /** Served on a listener of its own at this port (0: any free one), not on PORT. */
    readonly port: number | undefined;
  };
  /** How long a client may take to send headers, a whole request, or the next keep-alive request. */
  readonly httpTimeouts: {
    readonly headersSeconds: number;
    readonly requestSeconds: number;
    readonly keepAliveSeconds: number;
  };
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    this.name = "ConfigError";
  }
}

type Env = Record<string, string | undefined>;

/** Defaults that both the schema and the cross-variable rules need. */
const DEFAULTS = { bcryptRounds: 12, refreshTokenTtl: 604_800, sessionMaxAge: 2_592_000 } as const;

/** Fine for the embedded catcher; production must name a sender its SMTP server accepts. */
const DEFAULT_MAIL_FROM = "graphql-jwt-auth <no-reply@localhost>";

/** Seconds; the first two are compared with each other across variables. */
const HTTP_TIMEOUT_DEFAULTS = { headers: 10, request: 30, keepAlive: 5 } as const;

const emptyAsUndefined = (value: unknown) =>
  typeof value === "string" && value.trim() === "" ? undefined : value;

const seconds = (name: string, fallback: number) =>
  z.preprocess(
    emptyAsUndefined,
    z.coerce
      .number({ message: `${name} must be a whole number of seconds` })
      .int(`${name} must be a whole number of seconds`)
      .positive(`${name} must be greater than 0`)
      .default(fallback),
  );

const count = (name: string, fallback: number, min = 1, max = 1_000_000) =>
  z.preprocess(
    emptyAsUndefined,
    z.coerce
      .number({ message: `${name} must be a number` })
      .int(`${name} must be a whole number`)
      .min(min, `${name} must be between ${min} and ${max}`)
      .max(max, `${name} must be between ${min} and ${max}`)
      .default(fallback),
  );

const flag = (name: string) =>
  z.preprocess(
    emptyAsUndefined,
    z
      .enum(["true", "false", "1", "0"], { message: `${name} must be true or false` })
      .transform((value) => value === "true" || value === "1")
      .optional(),
  );

/** A value other services must match exactly: stray spaces or control characters are typos. */
const exactText = (name: string, fallback: string) =>
  z.preprocess(
    emptyAsUndefined,
    z
      .string()
      .refine(
        (value) => value === value.trim() && ![...value].some((c) => c < " " || c === "\x7f"),
        `${name} must not start or end with spaces or contain control characters`,
      )
      .default(fallback),
  );

/** Every variable the server reads; tests/config-bad-values.test.ts has a bad value for each. */
export const envSchema = z.object({
  NODE_ENV: z.preprocess(
    emptyAsUndefined,
    z
      .enum(["development", "production", "test"], {
        message: "NODE_ENV must be development, production or test",
      })
      .default("development"),
  ),
  PORT: count("PORT", 4000, 0, 65535),
  HOST: z.preprocess(
    emptyAsUndefined,
    z
      .string()
      .refine(isHost, "HOST must be an IP address or a host name, like 127.0.0.1 or localhost")
      .default("0.0.0.0"),
  ),
  MONGODB_URI: z.preprocess(
    emptyAsUndefined,
    z
      .string()
      .regex(/^mongodb(\+srv)?:\/\//, "MONGODB_URI must start with mongodb:// or mongodb+srv://")
      .optional(),
  ),
  EMBEDDED_DB_BACKEND: z.preprocess(
    emptyAsUndefined,
    z
      .enum(["sqlite", "postgres"], { message: "EMBEDDED_DB_BACKEND must be sqlite or postgres" })
      .default("sqlite"),
  ),
  // The value is never echoed in a problem: it may carry the database password.
  POSTGRESQL_URL: z.preprocess(
    emptyAsUndefined,
    z
      .string()
      .refine(
        isPostgresqlUrl,
        "POSTGRESQL_URL must be a postgres:// or postgresql:// URL with a host, like postgres://user:pass@db.example.com:5432/auth",
      )
      .optional(),
  ),
  JWT_SECRET: z.preprocess(emptyAsUndefined, z.string().optional()),
  JWT_ALGORITHM: z.preprocess(
    emptyAsUndefined,
    z
      .enum(["ES256", "RS256", "HS256"], { message: "JWT_ALGORITHM must be ES256, RS256 or HS256" })
      .optional(),
  ),
  JWT_PRIVATE_KEY: z.preprocess(emptyAsUndefined, z.string().optional()),
  JWT_KEY_ENCRYPTION_SECRET: z.preprocess(emptyAsUndefined, z.string().optional()),
  JWT_KEY_ROTATION: seconds("JWT_KEY_ROTATION", 604_800),
  JWT_CLAIMS_PRESET: z.preprocess(
    emptyAsUndefined,
    z
      .enum(["none", "hasura"], { message: "JWT_CLAIMS_PRESET must be none or hasura" })
      .default("none"),
  ),
  JWT_ISSUER: exactText("JWT_ISSUER", "graphql-jwt-auth"),
  JWT_AUDIENCE: exactText("JWT_AUDIENCE", "graphql-jwt-auth"),
  ACCESS_TOKEN_TTL: seconds("ACCESS_TOKEN_TTL", 900),
  REFRESH_TOKEN_TTL: seconds("REFRESH_TOKEN_TTL", DEFAULTS.refreshTokenTtl),
  SESSION_MAX_AGE: seconds("SESSION_MAX_AGE", DEFAULTS.sessionMaxAge),
  BCRYPT_ROUNDS: count("BCRYPT_ROUNDS", DEFAULTS.bcryptRounds, 4, 15),
  ADMIN_USERNAME: z.preprocess(emptyAsUndefined, z.string().optional()),
  ADMIN_EMAIL: z.preprocess(emptyAsUndefined, z.string().optional()),
  ADMIN_PASSWORD: z.preprocess(emptyAsUndefined, z.string().optional()),
  CORS_ORIGINS: z.preprocess(emptyAsUndefined, z.string().default("")),
  TRUST_PROXY: z.preprocess(
    emptyAsUndefined,
    z
      .string()
      .superRefine((value, ctx) => {
        for (const message of trustProxyProblems(value)) ctx.addIssue({ code: "custom", message });
      })
      .default("false"),
  ),
  GRAPHQL_MAX_DEPTH: count("GRAPHQL_MAX_DEPTH", 15),
  GRAPHQL_MAX_ALIASES: count("GRAPHQL_MAX_ALIASES", 15, 0),
  GRAPHQL_MAX_COST: count("GRAPHQL_MAX_COST", 1000),
  GRAPHQL_MAX_STRING_LENGTH: count("GRAPHQL_MAX_STRING_LENGTH", 1024),
  BODY_LIMIT_BYTES: count("BODY_LIMIT_BYTES", 102_400, 1024, 10_485_760),
  ALLOW_BATCHED_REQUESTS: flag("ALLOW_BATCHED_REQUESTS"),
  GRAPHQL_INTROSPECTION: flag("GRAPHQL_INTROSPECTION"),
  GRAPHQL_IDE: flag("GRAPHQL_IDE"),
  COOKIE_SECURE: flag("COOKIE_SECURE"),
  SIGNIN_MAX_FAILURES: count("SIGNIN_MAX_FAILURES", 5),
  SIGNIN_MAX_FAILURES_PER_IP: count("SIGNIN_MAX_FAILURES_PER_IP", 50),
  SIGNIN_MAX_FAILURES_PER_ACCOUNT: count("SIGNIN_MAX_FAILURES_PER_ACCOUNT", 100),
  SIGNIN_KNOWN_ADDRESS_DAYS: count("SIGNIN_KNOWN_ADDRESS_DAYS", 30, 1, 3650),
  REFRESH_REUSE_GRACE: count("REFRESH_REUSE_GRACE", 10, 0, 300),
  REQUIRE_EMAIL_VERIFICATION: flag("REQUIRE_EMAIL_VERIFICATION"),
  REVOKED_SESSION_CHECK: flag("REVOKED_SESSION_CHECK"),
  EMAIL_ENABLED: flag("EMAIL_ENABLED"),
  // The value is never echoed in a problem: it may carry the SMTP password.
  SMTP_URL: z.preprocess(
    emptyAsUndefined,
    z
      .string()
      .refine(
        isSmtpUrl,
        "SMTP_URL must be an smtp:// or smtps:// URL with a host, like smtps://user:pass@smtp.example.com:465",
      )
      .optional(),
  ),
  MAIL_FROM: z.preprocess(
    emptyAsUndefined,
    z
      .string()
      .refine(
        isMailbox,
        'MAIL_FROM must be an address or "Name <address>", on one line, like Example <no-reply@example.com>',
      )
      .default(DEFAULT_MAIL_FROM),
  ),
  APP_URL: z.preprocess(
    emptyAsUndefined,
    z
      .string()
      .refine(
        isAppUrl,
        "APP_URL must be an http:// or https:// URL without query or fragment, like https://app.example.com",
      )
      .optional(),
  ),
  EMAIL_VERIFICATION_TTL: seconds("EMAIL_VERIFICATION_TTL", 86_400),
  PASSWORD_RESET_TTL: seconds("PASSWORD_RESET_TTL", 1_800),
  RETENTION_DAYS: count("RETENTION_DAYS", 30, 1, 3650),
  SIGNIN_FAILURE_WINDOW: seconds("SIGNIN_FAILURE_WINDOW", 900),
  SIGNIN_LOCKOUT_BASE: seconds("SIGNIN_LOCKOUT_BASE", 60),
  SIGNIN_LOCKOUT_MAX: seconds("SIGNIN_LOCKOUT_MAX", 900),
  PASSWORD_WORKERS: z.preprocess(
    emptyAsUndefined,
    z.coerce
      .number({ message: "PASSWORD_WORKERS must be a number" })
      .int("PASSWORD_WORKERS must be a whole number")
      .min(0, "PASSWORD_WORKERS must be between 0 and 64")
      .max(64, "PASSWORD_WORKERS must be between 0 and 64")
      .optional(),
  ),
  SHUTDOWN_TIMEOUT: seconds("SHUTDOWN_TIMEOUT", 10),
  METRICS_ENABLED: flag("METRICS_ENABLED"),
  METRICS_PORT: z.preprocess(
    emptyAsUndefined,
    z.coerce
      .number({ message: "METRICS_PORT must be a port number" })
      .int("METRICS_PORT must be a whole number")
      .min(0, "METRICS_PORT must be between 0 and 65535")
      .max(65535, "METRICS_PORT must be between 0 and 65535")
      .optional(),
  ),
  // Node's defaults let a client that trickles bytes hold a connection for 300 s.
  HTTP_HEADERS_TIMEOUT: seconds("HTTP_HEADERS_TIMEOUT", HTTP_TIMEOUT_DEFAULTS.headers),
  HTTP_REQUEST_TIMEOUT: seconds("HTTP_REQUEST_TIMEOUT", HTTP_TIMEOUT_DEFAULTS.request),
  HTTP_KEEP_ALIVE_TIMEOUT: seconds("HTTP_KEEP_ALIVE_TIMEOUT", HTTP_TIMEOUT_DEFAULTS.keepAlive),
  // Read by src/db/ferretdb.ts, which the tests and the benchmark use too; checked here so a
  // wrong path stops the start before anything is built or started.
  FERRETDB_BIN: z.preprocess(
    emptyAsUndefined,
    z
      .string()
      .refine(isExecutableFile, "FERRETDB_BIN must be the path of an executable FerretDB binary")
      .optional(),
  ),
  LOG_LEVEL: z.preprocess(
    emptyAsUndefined,
    z
      .enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"], {
        message: "LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent",
      })
      .optional(),
  ),
});

/** Names of the variables the server reads, for tables that must cover every one. */
export type ConfigVariable = keyof typeof envSchema.shape;

function isHost(value: string): boolean {
  const label = "[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?";
  const hostname = new RegExp(`^(?=.{1,253}$)${label}(?:\\.${label})*\\.?$`);
  return isIP(value) !== 0 || hostname.test(value);
}

function isPostgresqlUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return (url.protocol === "postgres:" || url.protocol === "postgresql:") && url.hostname !== "";
  } catch {
    return false;
  }
}

function isSmtpUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return (url.protocol === "smtp:" || url.protocol === "smtps:") && url.hostname !== "";
  } catch {
    return false;
  }
}

/**
 * One line (a CR or LF would let the value add mail headers), and an address with a local part
 * and a domain, bare or in angle brackets after a display name.
 */
function isMailbox(value: string): boolean {
  if ([...value].some((c) => c < " " || c === "\x7f")) return false;
  const address = /<([^<>]*)>\s*$/.exec(value)?.[1] ?? value;
  return /^[^\s@<>"]+@[^\s@<>"]+$/.test(address.trim());
}

function isAppUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return (
      (url.protocol === "http:" || url.protocol === "https:") &&
      url.search === "" &&
      url.hash === "" &&
      !value.includes("?") &&
      !value.includes("#")
    );
  } catch {
    return false;
  }
}

function isExecutableFile(file: string): boolean {
  try {
    accessSync(file, fsConstants.X_OK);
    return statSync(file).isFile();
  } catch {
    return false;
  }
}

/** The subnet names express's "trust proxy" (proxy-addr) knows. */
const PROXY_SUBNET_NAMES = new Set(["loopback", "linklocal", "uniquelocal"]);

/** An IP address, a CIDR subnet (address/prefix, or address/netmask for IPv4), or a name. */
function isProxyAddress(entry: string): boolean {
  if (PROXY_SUBNET_NAMES.has(entry)) return true;
  const [address = "", range, ...rest] = entry.split("/");
  const version = isIP(address);
  if (version === 0 || rest.length > 0) return false;
  if (range === undefined) return true;
  if (/^\d{1,3}$/.test(range)) return Number(range) <= (version === 4 ? 32 : 128);
  return version === 4 && isIP(range) === 4;
}

/**
 * Anything else, express takes for a proxy address and refuses at start ("invalid IP
 * address"), after the database was started and without naming the variable.
 */
function trustProxyProblems(value: string): string[] {
  const trimmed = value.trim().toLowerCase();
  if (trimmed === "false" || trimmed === "true" || /^\d+$/.test(trimmed)) return [];
  const entries = splitList(value);
  if (entries.length === 0) {
    return ["TRUST_PROXY must be false, true, a hop count or proxy addresses"];
  }
  return entries
    .filter((entry) => !isProxyAddress(entry))
    .map(
      (entry) =>
        `TRUST_PROXY entry "${entry}" must be an IP address or CIDR subnet (like 10.0.0.0/8 or ` +
        "loopback); the whole value may also be false, true or a hop count",
    );
}

/** ADMIN_* variable for each field a signup can fault. */
const ADMIN_VARIABLES: Record<string, string> = {
  username: "ADMIN_USERNAME",
  email: "ADMIN_EMAIL",
  password: "ADMIN_PASSWORD",
};

/** The initial admin is an account like any other: the signup rules apply to it at start. */
function adminProblems(admin: { username: string; email: string; password: string }): string[] {
  try {
    assertValidAccount(admin);
    return [];
  } catch (error) {
    const name = error instanceof InputError ? ADMIN_VARIABLES[error.field] : undefined;
    if (!name) throw error;
    return [`${name} is not valid for the initial admin: ${(error as Error).message}`];
  }
}

const given = (value: string | undefined): string | undefined =>
  value === undefined || value.trim() === "" ? undefined : value;

const wholeNumber = (value: string | undefined, fallback: number): number | undefined => {
  const text = given(value);
  if (text === undefined) return fallback;
  return /^\d+$/.test(text.trim()) ? Number(text) : undefined;
};

/** JWT_PRIVATE_KEY holds the PEM itself, or the path of a file that does. */
function readPrivateKey(value: string): string {
  return value.includes("-----BEGIN") ? value.replace(/\\n/g, "\n") : readFileSync(value, "utf8");
}

function privateKeyProblem(value: string, algorithm: string): string | undefined {
  let pem: string;
  try {
    pem = readPrivateKey(value);
  } catch {
    return "JWT_PRIVATE_KEY must be a PEM private key or the path of a readable file holding one";
  }
  try {
    const key = createPrivateKey(pem);
    const expected = algorithm === "ES256" ? "ec" : "rsa";
    if (key.asymmetricKeyType !== expected) {
      return `JWT_PRIVATE_KEY must be an ${expected.toUpperCase()} private key for ${algorithm}`;
    }
    if (algorithm === "ES256" && key.asymmetricKeyDetails?.namedCurve !== "prime256v1") {
      return "JWT_PRIVATE_KEY must be a P-256 key for ES256";
    }
    if (algorithm === "RS256" && (key.asymmetricKeyDetails?.modulusLength ?? 0) < 2048) {
      return "JWT_PRIVATE_KEY must be an RSA key of at least 2048 bits";
    }
    return undefined;
  } catch {
    return "JWT_PRIVATE_KEY is not a PEM private key";
  }
}

/**
 * Rules that tie variables together. They read the raw environment, so they are reported
 * together with the per-variable problems instead of only once those are fixed.
 */
function crossFieldProblems(env: Env): string[] {
  const problems: string[] = [];
  const production = given(env.NODE_ENV)?.trim() === "production";
  const secret = given(env.JWT_SECRET);
  const algorithm = given(env.JWT_ALGORITHM)?.trim() ?? (secret !== undefined ? "HS256" : "ES256");
  if (algorithm === "HS256" && production && secret === undefined) {
    problems.push("JWT_SECRET is required for JWT_ALGORITHM=HS256 when NODE_ENV=production");
  }
  if (secret !== undefined && algorithm !== "HS256") {
    problems.push(`JWT_SECRET is only used with JWT_ALGORITHM=HS256, not ${algorithm}`);
  }
  if (secret !== undefined && secret.length < 32) {
    // A short HMAC secret can be brute-forced offline from any one token.
    problems.push("JWT_SECRET must be at least 32 characters");
  }
  const privateKey = given(env.JWT_PRIVATE_KEY);
  if (privateKey !== undefined) {
    if (algorithm === "HS256") {
      problems.push("JWT_PRIVATE_KEY is for JWT_ALGORITHM=ES256 or RS256, not HS256");
    } else {
      const problem = privateKeyProblem(privateKey, algorithm);
      if (problem) problems.push(problem);
    }
  }
  const encryptionSecret = given(env.JWT_KEY_ENCRYPTION_SECRET);
  if (encryptionSecret !== undefined && encryptionSecret.length < 32) {
    problems.push("JWT_KEY_ENCRYPTION_SECRET must be at least 32 characters");
  }
  const managedKeys = algorithm !== "HS256" && privateKey === undefined;
  if (managedKeys && production && encryptionSecret === undefined) {
    // Without it the private signing keys would sit in the database in the clear.
    problems.push(
      "JWT_KEY_ENCRYPTION_SECRET is required when NODE_ENV=production and the server manages its signing keys (no JWT_PRIVATE_KEY)",
    );
  }
  problems.push(...databaseProblems(env, production));
  const rounds = wholeNumber(env.BCRYPT_ROUNDS, DEFAULTS.bcryptRounds);
  if (production && rounds !== undefined && rounds < 10) {
    problems.push("BCRYPT_ROUNDS must be at least 10 when NODE_ENV=production");
  }
  const admin = [env.ADMIN_USERNAME, env.ADMIN_EMAIL, env.ADMIN_PASSWORD].map(given);
  const [adminUsername, adminEmail, adminPassword] = admin;
  if (adminUsername !== undefined && adminEmail !== undefined && adminPassword !== undefined) {
    problems.push(
      ...adminProblems({ username: adminUsername, email: adminEmail, password: adminPassword }),
    );
  } else if (admin.some((v) => v !== undefined)) {
    problems.push("ADMIN_USERNAME, ADMIN_EMAIL and ADMIN_PASSWORD must be set together");
  }
  problems.push(...emailProblems(env, production));
  const refreshTtl = wholeNumber(env.REFRESH_TOKEN_TTL, DEFAULTS.refreshTokenTtl);
  const sessionMaxAge = wholeNumber(env.SESSION_MAX_AGE, DEFAULTS.sessionMaxAge);
  if (refreshTtl !== undefined && sessionMaxAge !== undefined && refreshTtl > sessionMaxAge) {
    problems.push("REFRESH_TOKEN_TTL must not be longer than SESSION_MAX_AGE");
  }
  const headersTimeout = wholeNumber(env.HTTP_HEADERS_TIMEOUT, HTTP_TIMEOUT_DEFAULTS.headers);
  const requestTimeout = wholeNumber(env.HTTP_REQUEST_TIMEOUT, HTTP_TIMEOUT_DEFAULTS.request);
  if (
    headersTimeout !== undefined &&
    requestTimeout !== undefined &&
    headersTimeout > requestTimeout
  ) {
    // The headers are part of the request; node refuses to start with them the other way round.
    problems.push("HTTP_HEADERS_TIMEOUT must not be longer than HTTP_REQUEST_TIMEOUT");
  }
  problems.push(...metricsProblems(env));
  for (const origin of splitList(env.CORS_ORIGINS ?? "")) {
    if (!/^https?:\/\/[^/\s]+$/.test(origin)) {
      problems.push(
        `CORS_ORIGINS entry "${origin}" must be an origin like https://app.example.com`,
      );
    }
  }
  return problems;
}

/**
 * Production needs a database the team runs: MongoDB, or PostgreSQL behind the server's
 * FerretDB. A private cluster or SQLite files in the working folder are for development.
 */
function databaseProblems(env: Env, production: boolean): string[] {
  const problems: string[] = [];
  const mongodbUri = given(env.MONGODB_URI);
  const backend = given(env.EMBEDDED_DB_BACKEND)?.trim();
  const postgresqlUrl = given(env.POSTGRESQL_URL);
  if (postgresqlUrl !== undefined && backend !== "postgres") {
    problems.push("POSTGRESQL_URL is only used with EMBEDDED_DB_BACKEND=postgres");
  }
  if (mongodbUri !== undefined && backend !== undefined) {
    problems.push(
      "EMBEDDED_DB_BACKEND is only used without MONGODB_URI (with it the server starts no database)",
    );
  }
  if (production && mongodbUri === undefined) {
    if (backend === "postgres" && postgresqlUrl === undefined) {
      problems.push(
        "POSTGRESQL_URL is required when NODE_ENV=production and EMBEDDED_DB_BACKEND=postgres (a private cluster is for development)",
      );
    } else if (backend !== "postgres") {
      problems.push(
        "MONGODB_URI is required when NODE_ENV=production (or EMBEDDED_DB_BACKEND=postgres with POSTGRESQL_URL)",
      );
    }
  }
  return problems;
}

/**
 * Production sends real mail: it needs an SMTP server, a sender that server accepts, and the
 * address of the pages the links open (the example app at /app is not served there).
 */
function emailProblems(env: Env, production: boolean): string[] {
  const enabled = given(env.EMAIL_ENABLED)?.trim();
  const emailOn = enabled !== "false" && enabled !== "0";
  const problems: string[] = [];
  if (production && emailOn) {
    for (const name of ["SMTP_URL", "MAIL_FROM", "APP_URL"]) {
      if (given(env[name]) === undefined) {
        problems.push(
          `${name} is required when NODE_ENV=production and email is on (EMAIL_ENABLED=false turns email off)`,
        );
      }
    }
  }
  const required = given(env.REQUIRE_EMAIL_VERIFICATION)?.trim();
  if (!emailOn && (required === "true" || required === "1")) {
    problems.push(
      "REQUIRE_EMAIL_VERIFICATION=true needs email: it cannot be on with EMAIL_ENABLED=false",
    );
  }
  return problems;
}

function metricsProblems(env: Env): string[] {
  const metricsPort = given(env.METRICS_PORT)?.trim();
  if (metricsPort === undefined) return [];
  const enabled = given(env.METRICS_ENABLED)?.trim();
  if (enabled === "false" || enabled === "0") {
    return ["METRICS_PORT serves the metrics: it cannot be set with METRICS_ENABLED=false"];
  }
  const port = given(env.PORT)?.trim() ?? "4000";
  if (
    /^\d+$/.test(metricsPort) &&
    Number(metricsPort) !== 0 &&
    Number(metricsPort) === Number(port)
  ) {
    return ["METRICS_PORT must differ from PORT (unset it to serve /metrics on PORT)"];
  }
  return [];
}

function parseTrustProxy(value: string): boolean | number | readonly string[] {
  const trimmed = value.trim().toLowerCase();
  if (trimmed === "false" || trimmed === "0") return false;
  if (trimmed === "true") return true;
  if (/^\d+$/.test(trimmed)) return Number(trimmed);
  return Object.freeze(splitList(value));
}

function splitList(value: string): string[] {
  return value
    .split(",")
    .map((item) => item.trim())
    .filter((item) => item.length > 0);
}

/**
 * Parses the environment. Throws a ConfigError listing every problem at once, one line each,
 * so an operator fixes them all in one go instead of one per restart.
 */
export function loadConfig(env: Env = process.env): Config {
  const parsed = envSchema.safeParse(env);
  const problems = [
    ...(parsed.success ? [] : parsed.error.issues.map((issue) => issue.message)),
    ...crossFieldProblems(env),
  ];
  if (!parsed.success || problems.length > 0) throw new ConfigError([...new Set(problems)]);
  const e = parsed.data;
  const secretGenerated = e.JWT_SECRET === undefined;
  const algorithm = e.JWT_ALGORITHM ?? (e.JWT_SECRET !== undefined ? "HS256" : "ES256");
  const production = e.NODE_ENV === "production";
  const admin =
    e.ADMIN_USERNAME !== undefined && e.ADMIN_EMAIL !== undefined && e.ADMIN_PASSWORD !== undefined
      ? { username: e.ADMIN_USERNAME, email: e.ADMIN_EMAIL, password: e.ADMIN_PASSWORD }
      : undefined;

  return Object.freeze({
    nodeEnv: e.NODE_ENV,
    port: e.PORT,
    host: e.HOST,
    mongodbUri: e.MONGODB_URI,
    embeddedBackend: e.EMBEDDED_DB_BACKEND,
    postgresqlUrl: e.POSTGRESQL_URL,
    jwt: Object.freeze({
      algorithm,
      secret:
        algorithm === "HS256" ? (e.JWT_SECRET ?? randomBytes(48).toString("base64url")) : undefined,
      secretGenerated: algorithm === "HS256" && secretGenerated,
      privateKeyPem:
        e.JWT_PRIVATE_KEY === undefined ? undefined : readPrivateKey(e.JWT_PRIVATE_KEY),
      keyEncryptionSecret: e.JWT_KEY_ENCRYPTION_SECRET,
      keyRotationSeconds: e.JWT_KEY_ROTATION,
      claimsPreset: e.JWT_CLAIMS_PRESET,
      issuer: e.JWT_ISSUER,
      audience: e.JWT_AUDIENCE,
    }),
    accessTokenTtlSeconds: e.ACCESS_TOKEN_TTL,
    refreshTokenTtlSeconds: e.REFRESH_TOKEN_TTL,
    sessionMaxAgeSeconds: e.SESSION_MAX_AGE,
    bcryptRounds: e.BCRYPT_ROUNDS,
    initialAdmin: admin ? Object.freeze(admin) : undefined,
    corsOrigins: Object.freeze(splitList(e.CORS_ORIGINS)),
    logLevel: e.LOG_LEVEL ?? (e.NODE_ENV === "test" ? "silent" : "info"),
    trustProxy: parseTrustProxy(e.TRUST_PROXY),
    graphql: Object.freeze({
      maxDepth: e.GRAPHQL_MAX_DEPTH,
      maxAliases: e.GRAPHQL_MAX_ALIASES,
      maxCost: e.GRAPHQL_MAX_COST,
      maxStringLength: e.GRAPHQL_MAX_STRING_LENGTH,
      bodyLimitBytes: e.BODY_LIMIT_BYTES,
      allowBatchedRequests: e.ALLOW_BATCHED_REQUESTS ?? false,
      // Off in production unless asked for: the schema is a map for attackers, and the IDE
      // page is a tool for developers.
      introspection: e.GRAPHQL_INTROSPECTION ?? !production,
      ide: e.GRAPHQL_IDE ?? !production,
    }),
    signinThrottle: Object.freeze({
      maxFailuresPerPair: e.SIGNIN_MAX_FAILURES,
      maxFailuresPerIp: e.SIGNIN_MAX_FAILURES_PER_IP,
      maxFailuresPerAccount: e.SIGNIN_MAX_FAILURES_PER_ACCOUNT,
      knownAddressDays: e.SIGNIN_KNOWN_ADDRESS_DAYS,
      windowSeconds: e.SIGNIN_FAILURE_WINDOW,
      lockoutBaseSeconds: e.SIGNIN_LOCKOUT_BASE,
      lockoutMaxSeconds: e.SIGNIN_LOCKOUT_MAX,
    }),
    refreshReuseGraceSeconds: e.REFRESH_REUSE_GRACE,
    requireEmailVerification: e.REQUIRE_EMAIL_VERIFICATION ?? false,
    revokedSessionCheck: e.REVOKED_SESSION_CHECK ?? false,
    email: Object.freeze({
      enabled: e.EMAIL_ENABLED ?? true,
      smtpUrl: e.SMTP_URL,
      from: e.MAIL_FROM,
      appUrl: e.APP_URL?.replace(/\/+$/, ""),
      verificationTtlSeconds: e.EMAIL_VERIFICATION_TTL,
      passwordResetTtlSeconds: e.PASSWORD_RESET_TTL,
    }),
    retentionDays: e.RETENTION_DAYS,
    cookieSecure: e.COOKIE_SECURE ?? true,
    passwordWorkers: e.PASSWORD_WORKERS ?? availableParallelism(),
    shutdownTimeoutSeconds: e.SHUTDOWN_TIMEOUT,
    metrics: Object.freeze({
      // Off in production unless asked for (or given a port of its own): request rates, error
      // counts and heap sizes are for the operator, not for anyone who can reach the API.
      enabled: e.METRICS_ENABLED ?? (e.METRICS_PORT !== undefined || !production),
      port: e.METRICS_PORT,
    }),
    httpTimeouts: Object.freeze({
      headersSeconds: e.HTTP_HEADERS_TIMEOUT,
      requestSeconds: e.HTTP_REQUEST_TIMEOUT,
      keepAliveSeconds: e.HTTP_KEEP_ALIVE_TIMEOUT,
    }),
  });
}
