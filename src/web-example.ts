import path from "node:path";
import { Router, type Request, type Response } from "express";
import { sendBundlePage, serveBundleAssets } from "./vite-bundle";

/** The path examples/web/vite.config.mts builds for (its `base`). */
export const WEB_EXAMPLE_PATH = "/app";

/** examples/web/dist beside dist/ (compiled) or src/ (ts-jest): `npm run build:web`. */
export const DEFAULT_WEB_EXAMPLE_DIR = path.resolve(__dirname, "..", "examples", "web", "dist");

export interface WebExampleRouterOptions {
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
export function webExampleRouter(options: WebExampleRouterOptions = {}): Router {
  const distDir = options.distDir ?? DEFAULT_WEB_EXAMPLE_DIR;
  const router = Router();

  router.use(WEB_EXAMPLE_PATH, serveBundleAssets(distDir));

  // Every other page under /app/ is the single-page app; a missing asset stays a 404.
  // router.use, not router.get: a route would also answer OPTIONS by itself.
  router.use(WEB_EXAMPLE_PATH, (req: Request, res: Response, next) => {
    if (req.method !== "GET" && req.method !== "HEAD") return next();
    if (req.path.startsWith("/assets/")) return next();
    const queryAt = req.originalUrl.indexOf("?");
    const pathname = queryAt >= 0 ? req.originalUrl.slice(0, queryAt) : req.originalUrl;
    if (pathname === WEB_EXAMPLE_PATH) {
      // One address for the app: /app/, as Vite's base says.
      res.redirect(301, `${WEB_EXAMPLE_PATH}/${req.originalUrl.slice(pathname.length)}`);
      return;
    }
    sendBundlePage(res, {
      distDir,
      contentSecurityPolicy: CONTENT_SECURITY_POLICY,
      buildScript: "build:web",
    });
  });

  return router;
}
