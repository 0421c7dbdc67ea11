import { existsSync } from "node:fs";
import path from "node:path";
import express, { Router, type Request, type Response } from "express";

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

/** Vite puts a content hash in every file name under assets/: they never change. */
const IMMUTABLE = "public, max-age=31536000, immutable";

/**
 * Serves the built example app (examples/web) at /app/, same origin as /graphql, so its
 * SameSite=Strict refresh cookie is sent without any CORS. For development: `npm start` shows
 * the API, the IDE and a client using it in one place.
 */
export function webExampleRouter(options: WebExampleRouterOptions = {}): Router {
  const distDir = options.distDir ?? DEFAULT_WEB_EXAMPLE_DIR;
  const indexHtml = path.join(distDir, "index.html");
  const router = Router();

  router.use(
    WEB_EXAMPLE_PATH,
    express.static(distDir, {
      index: false,
      setHeaders(res, filePath) {
        res.setHeader("X-Content-Type-Options", "nosniff");
        if (filePath.startsWith(path.join(distDir, "assets") + path.sep)) {
          res.setHeader("Cache-Control", IMMUTABLE);
        }
      },
    }),
  );

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
    if (!existsSync(indexHtml)) {
      res
        .status(503)
        .type("text/plain")
        .send("The example app is not built. Run `npm run build:web`, then reload.\n");
      return;
    }
    res.setHeader("Content-Security-Policy", CONTENT_SECURITY_POLICY);
    res.setHeader("X-Content-Type-Options", "nosniff");
    res.setHeader("Referrer-Policy", "no-referrer");
    // index.html names the current hashed bundle: revalidate it so a rebuild shows at once.
    res.setHeader("Cache-Control", "no-cache");
    res.sendFile(indexHtml);
  });

  return router;
}
