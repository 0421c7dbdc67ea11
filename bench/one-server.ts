import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import type * as ConnectionModule from "../src/db/connection";
import type * as EmbeddedDatabaseModule from "../src/db/embedded-database";
import type { ServerSpec } from "./protocol";

/** The checkout's root, from dist/bench/bench where these scripts run. */
export const ROOT = path.resolve(__dirname, "../../..");
export const DIST = path.join(ROOT, "dist");

/** The node flags `npm start` runs the server with (package.json, config.serverNodeFlags). */
export const SERVER_NODE_FLAGS: readonly string[] =
  (
    JSON.parse(readFileSync(path.join(ROOT, "package.json"), "utf8")) as {
      config?: { serverNodeFlags?: string[] };
    }
  ).config?.serverNodeFlags ?? [];

/**
 * One of our servers as production runs it (email off: there is no SMTP server here), on the
 * given database, with a hashing thread per core; `env` adds or overrides settings.
 */
export function productionSpec(mongodbUri: string, env: Record<string, string> = {}): ServerSpec {
  return {
    mode: "apollo",
    distDir: DIST,
    passwordWorkers: os.availableParallelism(),
    env: {
      NODE_ENV: "production",
      EMAIL_ENABLED: "false",
      HOST: "127.0.0.1",
      PORT: "0",
      MONGODB_URI: mongodbUri,
      JWT_SECRET: randomBytes(48).toString("base64url"),
      BCRYPT_ROUNDS: "10",
      LOG_LEVEL: "info",
      ...env,
    },
  };
}

/**
 * The compiled server's database helpers, loaded from dist/ at run time: the bench measures
 * the build `npm start` runs, not the TypeScript sources.
 */
export async function databaseHelpers(): Promise<{
  startEmbeddedDatabase: typeof EmbeddedDatabaseModule.startEmbeddedDatabase;
  withDatabaseName: typeof ConnectionModule.withDatabaseName;
}> {
  const embedded = (await import(
    path.join(DIST, "db/embedded-database.js")
  )) as typeof EmbeddedDatabaseModule;
  const connection = (await import(path.join(DIST, "db/connection.js"))) as typeof ConnectionModule;
  return {
    startEmbeddedDatabase: embedded.startEmbeddedDatabase,
    withDatabaseName: connection.withDatabaseName,
  };
}

/** A GraphQL POST to a server under test; the answer's `data` as JSON, unchecked. */
export async function postGraphql(
  url: string,
  query: string,
  variables: Record<string, unknown> = {},
): Promise<{ data?: Record<string, Record<string, string> | null> }> {
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ query, variables }),
  });
  return (await response.json()) as { data?: Record<string, Record<string, string> | null> };
}

const SIGNIN_MUTATION =
  "mutation($i: SigninInput!) { signin(input: $i) { accessToken refreshToken } }";

/** The password newSession gives the account `name`. */
function passwordOf(name: string): string {
  return `pw-${name}-profile`;
}

/** The JSON body of a signin of an account made by newSession. */
export function signinBody(name: string): string {
  return JSON.stringify({
    query: SIGNIN_MUTATION,
    variables: { i: { username: name, password: passwordOf(name) } },
  });
}

/** Signs a new account up and in: the first session's pair of tokens. */
export async function newSession(
  url: string,
  name: string,
): Promise<{ accessToken: string; refreshToken: string }> {
  const input = { username: name, email: `${name}@example.com`, password: passwordOf(name) };
  await postGraphql(url, "mutation($i: SignupInput!) { signup(input: $i) { id } }", { i: input });
  const answer = await postGraphql(url, SIGNIN_MUTATION, {
    i: { username: input.username, password: input.password },
  });
  const pair = answer.data?.signin;
  if (!pair?.accessToken || !pair.refreshToken) {
    throw new Error(`signin of ${name} failed: ${JSON.stringify(answer)}`);
  }
  return { accessToken: pair.accessToken, refreshToken: pair.refreshToken };
}
