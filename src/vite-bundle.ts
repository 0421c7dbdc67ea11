import { existsSync } from "node:fs";
import path from "node:path";
import express, { type RequestHandler, type Response } from "express";

/** Vite puts a content hash in every file name under assets/: they never change. */
const IMMUTABLE = "public, max-age=31536000, immutable";

/** Static files of a Vite build: hashed assets cached for good, nothing sniffed. */
export function serveBundleAssets(distDir: string): RequestHandler {
  return express.static(distDir, {
    index: false,
    setHeaders(res, filePath) {
      res.setHeader("X-Content-Type-Options", "nosniff");
      if (filePath.startsWith(path.join(distDir, "assets") + path.sep)) {
        res.setHeader("Cache-Control", IMMUTABLE);
      }
    },
  });
}

/**
 * Answers with the build's index.html under a strict Content-Security-Policy, or a 503 that
 * says which build script to run. Checked per request: a build may run while the server is up.
 */
export function sendBundlePage(
  res: Response,
  options: { distDir: string; contentSecurityPolicy: string; buildScript: string },
): void {
  const indexHtml = path.join(options.distDir, "index.html");
  if (!existsSync(indexHtml)) {
    res
      .status(503)
      .type("text/plain")
      .send(`This page is not built. Run \`npm run ${options.buildScript}\`, then reload.\n`);
    return;
  }
  res.setHeader("Content-Security-Policy", options.contentSecurityPolicy);
  res.setHeader("X-Content-Type-Options", "nosniff");
  res.setHeader("Referrer-Policy", "no-referrer");
  // index.html names the current hashed bundle: revalidate it so a rebuild shows at once.
  res.setHeader("Cache-Control", "no-cache");
  res.sendFile(indexHtml);
}
