import { readFile } from "node:fs/promises";
import path from "node:path";
import fastifyStatic from "@fastify/static";
import type { FastifyInstance, FastifyReply } from "fastify";

/**
 * Serves the hashed files of a Vite build (its assets/ folder) under `<prefix>/assets/`.
 * Vite puts a content hash in every file name there: they never change, so they are cached
 * for good. A missing file is the JSON 404 of every unknown route.
 */
export async function serveBundleAssets(
  app: FastifyInstance,
  options: { distDir: string; prefix: string },
): Promise<void> {
  // Its own scope: each bundle has its own root and its own reply.sendFile decoration.
  await app.register(async (scope) => {
    await scope.register(fastifyStatic, {
      root: path.join(options.distDir, "assets"),
      prefix: `${options.prefix}/assets/`,
      index: false,
      cacheControl: true,
      maxAge: "365d",
      immutable: true,
    });
  });
}

/**
 * Answers with the build's index.html under its page's Content-Security-Policy (in place of
 * the strict one every other response gets), or a 503 that says which build script to run.
 * Checked per request: a build may run while the server is up.
 */
export async function sendBundlePage(
  reply: FastifyReply,
  options: { distDir: string; contentSecurityPolicy: string; buildScript: string },
): Promise<FastifyReply> {
  let page: Buffer;
  try {
    page = await readFile(path.join(options.distDir, "index.html"));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
    return reply
      .code(503)
      .type("text/plain; charset=utf-8")
      .send(`This page is not built. Run \`npm run ${options.buildScript}\`, then reload.\n`);
  }
  // index.html names the current hashed bundle: revalidate it so a rebuild shows at once.
  return reply
    .header("content-security-policy", options.contentSecurityPolicy)
    .header("cache-control", "no-cache")
    .type("text/html; charset=utf-8")
    .send(page);
}
