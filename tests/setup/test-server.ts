import { Writable } from "node:stream";
import type { TypedDocumentNode } from "@graphql-typed-document-node/core";
import { print, type GraphQLFormattedError } from "graphql";
import { loadConfig, type Config } from "../../src/config";
import { createLogger } from "../../src/logger";
import { startServer, type AppServer } from "../../src/server";
import type { ServiceOptions } from "../../src/services/services";

/** Fixed so tests can sign tokens the server should reject (wrong issuer, alg none, ...). */
export const TEST_JWT_SECRET = "test-secret-that-is-long-enough-for-hs256-0123456789";

export interface GraphQLResponse<TData> {
  status: number;
  headers: Headers;
  data?: TData | null;
  errors?: GraphQLFormattedError[];
  /** The raw body text, for assertions that nothing secret is in it. */
  text: string;
}

export interface RequestOptions {
  token?: string;
  headers?: Record<string, string>;
}

export interface TestServer {
  readonly url: string;
  readonly origin: string;
  readonly config: Config;
  readonly app: AppServer;
  /** Log lines the server wrote, as parsed JSON. */
  readonly logs: string[];
  execute<TData, TVariables>(
    document: TypedDocumentNode<TData, TVariables>,
    variables?: TVariables,
    options?: RequestOptions,
  ): Promise<GraphQLResponse<TData>>;
  /** Posts any body to /graphql, for malformed requests. */
  post(body: string, headers?: Record<string, string>): Promise<Response>;
  close(): Promise<void>;
}

/**
 * Starts a real server instance on a free loopback port, with test defaults overridden by
 * `env` (e.g. a 1-second ACCESS_TOKEN_TTL). The database must be connected already.
 */
export async function startTestServer(
  env: Record<string, string> = {},
  options: ServiceOptions = {},
): Promise<TestServer> {
  const config = loadConfig({
    NODE_ENV: "test",
    PORT: "0",
    HOST: "127.0.0.1",
    BCRYPT_ROUNDS: "4",
    JWT_SECRET: TEST_JWT_SECRET,
    LOG_LEVEL: "info",
    // Most tests fail signins on purpose; the brute-force tests set real limits themselves.
    SIGNIN_MAX_FAILURES: "1000",
    SIGNIN_MAX_FAILURES_PER_IP: "1000",
    // Mail is sent in the background: tests of other features (some count database queries)
    // must not see a sender at work. The mail tests turn it on with an SMTP server of their own.
    EMAIL_ENABLED: "false",
    ...env,
  });
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      logs.push(...chunk.toString().split("\n").filter(Boolean));
      callback();
    },
  });
  const app = await startServer(config, createLogger(config, sink), options);
  const url = app.url;
  const origin = new URL(url).origin;

  const post = (body: string, headers: Record<string, string> = {}) =>
    fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body,
    });

  return {
    url,
    origin,
    config,
    app,
    logs,
    post,
    async execute(document, variables, options = {}) {
      const headers: Record<string, string> = { ...options.headers };
      if (options.token) headers.authorization = `Bearer ${options.token}`;
      const response = await post(JSON.stringify({ query: print(document), variables }), headers);
      const text = await response.text();
      const body = JSON.parse(text) as { data?: never; errors?: GraphQLFormattedError[] };
      return {
        status: response.status,
        headers: response.headers,
        data: body.data,
        errors: body.errors,
        text,
      };
    },
    close: () => app.close(),
  };
}
