import path from "node:path";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { sendBundlePage, serveBundleAssets } from "./vite-bundle";

/** The path examples/web/vite.config.mts builds for (its `base`). */
export const WEB_EXAMPLE_PATH = "/app";

/** examples/web/dist beside dist/ (compiled) or src/ (ts-jest): `npm run build:web`. */
export const DEFAULT_WEB_EXAMPLE_DIR = path.resolve(__dirname, "..", "examples", "web", "dist");

export interface WebExampleOptions {
  /** The built example app: index.html and assets/. */
  readonly distDir?: string;
}

/**
 * The app holds an access token in memory: an injected script could use it. Only this
 * server's own scripts run, and no other site may frame the page.
 */
const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'none'",
].join("; ");

/**
 * Serves the built example app (examples/web) at /app/, same origin as /graphql, so its
 * SameSite=Strict refresh cookie is sent without any CORS. For development: `npm start` shows
 * the API, the IDE and a client using it in one place.
 */
export async function serveWebExample(
  app: FastifyInstance,
  options: WebExampleOptions = {},
): Promise<void> {
  const distDir = options.distDir ?? DEFAULT_WEB_EXAMPLE_DIR;

  // /app/assets/* is more specific than the page routes below: a missing asset stays a 404.
  await serveBundleAssets(app, { distDir, prefix: WEB_EXAMPLE_PATH });

  // One address for the app: /app/, as Vite's base says.
  app.get(WEB_EXAMPLE_PATH, async (request: FastifyRequest, reply: FastifyReply) => {
    const queryAt = request.url.indexOf("?");
    const query = queryAt >= 0 ? request.url.slice(queryAt) : "";
    return reply.redirect(`${WEB_EXAMPLE_PATH}/${query}`, 301);
  });

  // Every other page under /app/ is the single-page app.
  const page = async (_request: FastifyRequest, reply: FastifyReply) =>
    sendBundlePage(reply, {
      distDir,
      contentSecurityPolicy: CONTENT_SECURITY_POLICY,
      buildScript: "build:web",
    });
  app.get(`${WEB_EXAMPLE_PATH}/*`, page);
}
