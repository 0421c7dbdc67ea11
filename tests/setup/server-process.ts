import { spawn, type ChildProcess } from "node:child_process";
import net from "node:net";
import path from "node:path";
import type { TypedDocumentNode } from "@graphql-typed-document-node/core";
import { print, type GraphQLFormattedError } from "graphql";
import { TEST_JWT_SECRET, type GraphQLResponse, type RequestOptions } from "./test-server";

/** The real entry point, as `npm start` runs it (built by `npm test`'s pretest step). */
export const SERVER_SCRIPT = path.resolve(__dirname, "..", "..", "dist", "index.js");

/** Every variable the server reads: none leaks in from the environment jest runs in. */
const SERVER_ENV_NAMES = [
  "NODE_ENV",
  "PORT",
  "HOST",
  "MONGODB_URI",
  "EMBEDDED_DB_BACKEND",
  "POSTGRESQL_URL",
  "JWT_SECRET",
  "JWT_ALGORITHM",
  "JWT_PRIVATE_KEY",
  "JWT_KEY_ENCRYPTION_SECRET",
  "JWT_KEY_ROTATION",
  "JWT_CLAIMS_PRESET",
  "JWT_ISSUER",
  "JWT_AUDIENCE",
  "ACCESS_TOKEN_TTL",
  "REFRESH_TOKEN_TTL",
  "SESSION_MAX_AGE",
  "BCRYPT_ROUNDS",
  "ADMIN_USERNAME",
  "ADMIN_EMAIL",
  "ADMIN_PASSWORD",
  "CORS_ORIGINS",
  "LOG_LEVEL",
  "TRUST_PROXY",
  "GRAPHQL_MAX_DEPTH",
  "GRAPHQL_MAX_ALIASES",
  "GRAPHQL_MAX_COST",
  "GRAPHQL_MAX_STRING_LENGTH",
  "BODY_LIMIT_BYTES",
  "ALLOW_BATCHED_REQUESTS",
  "GRAPHQL_INTROSPECTION",
  "GRAPHQL_IDE",
  "SIGNIN_MAX_FAILURES",
  "SIGNIN_MAX_FAILURES_PER_IP",
  "SIGNIN_MAX_FAILURES_PER_ACCOUNT",
  "SIGNIN_KNOWN_ADDRESS_DAYS",
  "REFRESH_REUSE_GRACE",
  "REQUIRE_EMAIL_VERIFICATION",
  "REVOKED_SESSION_CHECK",
  "EMAIL_ENABLED",
  "SMTP_URL",
  "MAIL_FROM",
  "APP_URL",
  "EMAIL_VERIFICATION_TTL",
  "PASSWORD_RESET_TTL",
  "RETENTION_DAYS",
  "SIGNIN_FAILURE_WINDOW",
  "SIGNIN_LOCKOUT_BASE",
  "SIGNIN_LOCKOUT_MAX",
  "PASSWORD_WORKERS",
  "SHUTDOWN_TIMEOUT",
  "HTTP_HEADERS_TIMEOUT",
  "HTTP_REQUEST_TIMEOUT",
  "HTTP_KEEP_ALIVE_TIMEOUT",
];

export interface ServerProcess {
  readonly pid: number;
  /** http://127.0.0.1:<port>/graphql, from the "GraphQL ready at" log line. */
  readonly url: string;
  readonly origin: string;
  readonly port: number;
  /** Every stdout line so far (pino JSON lines, unparsed). */
  readonly lines: string[];
  /** stderr so far, for failure messages. */
  readonly stderr: () => string;
  /** The `msg` of every JSON log line so far. */
  messages(): string[];
  /** Resolves with the first log line whose msg matches, waiting up to `timeoutMs`. */
  waitForMessage(pattern: RegExp, timeoutMs?: number): Promise<string>;
  execute<TData, TVariables>(
    document: TypedDocumentNode<TData, TVariables>,
    variables?: TVariables,
    options?: RequestOptions,
  ): Promise<GraphQLResponse<TData>>;
  /** Resolves with the exit code once the process has exited (null if a signal killed it). */
  readonly exited: Promise<number | null>;
  /** Sends `signal` (SIGTERM unless told) and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export interface SpawnOptions {
  /** Variables for the server; `undefined` leaves a variable unset (e.g. MONGODB_URI). */
  env?: Record<string, string | undefined>;
  cwd?: string;
  /** How long to wait for "GraphQL ready at" (the embedded database may need to start first). */
  readyTimeoutMs?: number;
  /**
   * What to run instead of `node dist/index.js`, e.g. `["npm", "start"]`. The spawned process
   * (npm then) is the one `pid`, `stop()` and `exited` are about.
   */
  command?: readonly [string, ...string[]];
}

const running = new Set<ChildProcess>();

/**
 * Kills a server and everything it started (it leads its own process group, so an embedded
 * FerretDB goes too). For cleanup only: tests stop servers with `stop(signal)`.
 */
function killGroup(child: ChildProcess): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, "SIGKILL");
  } catch {
    // Already gone.
  }
}

// A jest worker that exits with servers still up (a failed beforeAll) must not leave them.
process.once("exit", () => {
  for (const child of running) killGroup(child);
});

/** Kills every server this file spawned that is still running. Call it in afterAll. */
export async function killServerProcesses(): Promise<void> {
  const children = [...running];
  await Promise.all(
    children.map(
      (child) =>
        new Promise<void>((resolve) => {
          child.once("close", () => resolve());
          killGroup(child);
          // A child that already exited but whose streams are closed fires no more events.
          setTimeout(resolve, 2_000).unref();
        }),
    ),
  );
  running.clear();
}

/**
 * Spawns `node dist/index.js` as its own process with test defaults (NODE_ENV=test, a free
 * loopback port, info logs, BCRYPT_ROUNDS=4, the tests' JWT secret) overridden by `env`, and
 * resolves once it logs "GraphQL ready at".
 */
export async function spawnServer(options: SpawnOptions = {}): Promise<ServerProcess> {
  const env: Record<string, string | undefined> = { ...process.env };
  for (const name of [...SERVER_ENV_NAMES, "TEST_MONGODB_URI"]) delete env[name];
  Object.assign(env, {
    NODE_ENV: "test",
    PORT: "0",
    HOST: "127.0.0.1",
    LOG_LEVEL: "info",
    JWT_SECRET: TEST_JWT_SECRET,
    BCRYPT_ROUNDS: "4",
    ...options.env,
  });
  for (const [name, value] of Object.entries(env)) if (value === undefined) delete env[name];

  const [command, ...args] = options.command ?? [process.execPath, SERVER_SCRIPT];
  const child = spawn(command, args, {
    cwd: options.cwd ?? process.cwd(),
    env,
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  running.add(child);

  const lines: string[] = [];
  const lineListeners = new Set<() => void>();
  let partial = "";
  child.stdout!.on("data", (chunk: Buffer) => {
    const text = partial + chunk.toString();
    const parts = text.split("\n");
    partial = parts.pop() ?? "";
    lines.push(...parts.filter(Boolean));
    for (const listener of lineListeners) listener();
  });
  let stderr = "";
  child.stderr!.on("data", (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-8000);
  });

  const exited = new Promise<number | null>((resolve) => {
    child.once("exit", (code) => {
      running.delete(child);
      resolve(code);
      for (const listener of lineListeners) listener();
    });
  });
  let hasExited = false;
  void exited.then(() => (hasExited = true));

  const messages = () =>
    lines.flatMap((line) => {
      try {
        const parsed = JSON.parse(line) as { msg?: unknown };
        return typeof parsed.msg === "string" ? [parsed.msg] : [];
      } catch {
        return [];
      }
    });

  const report = () =>
    `server process ${child.pid}\n--- stdout ---\n${lines.join("\n")}\n--- stderr ---\n${stderr}`;

  const waitForMessage = (pattern: RegExp, timeoutMs = 10_000) =>
    new Promise<string>((resolve, reject) => {
      const check = () => {
        const found = messages().find((msg) => pattern.test(msg));
        if (found !== undefined) {
          done();
          resolve(found);
        } else if (hasExited || child.exitCode !== null || child.signalCode !== null) {
          done();
          reject(new Error(`exited before logging ${pattern}: ${report()}`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`no log line matching ${pattern} within ${timeoutMs} ms: ${report()}`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        lineListeners.delete(check);
      };
      lineListeners.add(check);
      check();
    });

  let url: string;
  try {
    const ready = await waitForMessage(/^GraphQL ready at /, options.readyTimeoutMs ?? 20_000);
    url = ready.replace(/^GraphQL ready at /, "").trim();
  } catch (error) {
    killGroup(child);
    throw error;
  }
  const parsedUrl = new URL(url);

  return {
    pid: child.pid!,
    url,
    origin: parsedUrl.origin,
    port: Number(parsedUrl.port),
    lines,
    stderr: () => stderr,
    messages,
    waitForMessage,
    exited,
    async execute(document, variables, requestOptions = {}) {
      const headers: Record<string, string> = {
        "content-type": "application/json",
        ...requestOptions.headers,
      };
      if (requestOptions.token) headers.authorization = `Bearer ${requestOptions.token}`;
      const response = await fetch(url, {
        method: "POST",
        headers,
        body: JSON.stringify({ query: print(document), variables }),
      });
      const text = await response.text();
      let body: { data?: never; errors?: GraphQLFormattedError[] };
      try {
        body = JSON.parse(text) as typeof body;
      } catch {
        throw new Error(`not JSON (${response.status}): ${text}`);
      }
      return {
        status: response.status,
        headers: response.headers,
        data: body.data,
        errors: body.errors,
        text,
      };
    },
    async stop(signal = "SIGTERM") {
      if (!hasExited && child.exitCode === null && child.signalCode === null) {
        child.kill(signal);
      }
      return exited;
    },
  };
}

/** True when something accepts TCP connections on 127.0.0.1:port. */
export function isListening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: "127.0.0.1", port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}
