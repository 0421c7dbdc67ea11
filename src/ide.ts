import path from "node:path";
import type { FastifyInstance, FastifyReply, FastifyRequest, onRequestHookHandler } from "fastify";
import { sendBundlePage, serveBundleAssets } from "./vite-bundle";

/** Where the bundle's files are served; ide/vite.config.mts builds with this as its base. */
export const IDE_ASSETS_PATH = "/graphql-ide";

/** ide/dist beside dist/ (compiled) or src/ (ts-jest): the output of `npm run build:ide`. */
export const DEFAULT_IDE_DIR = path.resolve(__dirname, "..", "ide", "dist");

export interface IdeOptions {
  /** The built IDE: index.html and assets/ (`npm run build:ide`). */
  readonly ideDir?: string;
}

/**
 * The page runs mutations with whatever token the user pastes, so it must not be framed by
 * another site (clickjacking), and it loads nothing from anywhere but this server: every
 * script, style and font is in the bundle. GraphiQL sets inline styles, hence 'unsafe-inline'
 * for styles only.
 */
const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "font-src 'self' data:",
  "connect-src 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'none'",
].join("; ");

/**
 * A browser navigating to /graphql gets the IDE; GraphQL clients get GraphQL. An Accept header
 * that ranks JSON first or equal (curl's *\/*, fetch's default, every GraphQL client) is not a
 * person. A navigation with `?query=...` gets the IDE too, prefilled: that is how GraphiQL
 * links are shared, and such a GET could not run as GraphQL anyway (CSRF prevention refuses a
 * GET operation without a preflight header, which a navigation never has).
 */
function wantsIdePage(request: FastifyRequest): boolean {
  if (request.method !== "GET" && request.method !== "HEAD") return false;
  // request.accepts(): @fastify/accepts, registered by server.ts.
  const preferred = request
    .accepts()
    .type(["application/json", "application/graphql-response+json", "text/html"]);
  return preferred === "text/html";
}

/** Serves the offline GraphiQL's bundle under /graphql-ide/. Register it when GRAPHQL_IDE is on. */
export async function serveIdeAssets(app: FastifyInstance, options: IdeOptions = {}) {
  await serveBundleAssets(app, {
    distDir: options.ideDir ?? DEFAULT_IDE_DIR,
    prefix: IDE_ASSETS_PATH,
  });
}

/**
 * An onRequest hook for the GraphQL route: a browser's `GET /graphql` is answered with the
 * IDE's index.html before anything of the API runs (no request id, no CORS, no log line).
 */
export function ideGraphqlPageHook(options: IdeOptions = {}): onRequestHookHandler {
  const ideDir = options.ideDir ?? DEFAULT_IDE_DIR;
  return async (request: FastifyRequest, reply: FastifyReply) => {
    if (!wantsIdePage(request)) return;
    void reply.header("vary", "Accept");
    return sendBundlePage(reply, {
      distDir: ideDir,
      contentSecurityPolicy: CONTENT_SECURITY_POLICY,
      buildScript: "build:ide",
    });
  };
}
