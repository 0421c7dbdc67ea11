import { defineConfig } from "vite";

/**
 * Builds GraphiQL into ide/dist at build time, so GET /graphql serves an IDE whose every asset
 * comes from this server: Apollo's default landing page loads Sandbox from the internet.
 */
export default defineConfig({
  root: import.meta.dirname,
  // The server answers GET /graphql with index.html and serves the bundle under this path.
  base: "/graphql-ide/",
  oxc: { jsx: { runtime: "automatic" } },
  build: {
    outDir: "dist",
    emptyOutDir: true,
    // GraphiQL with CodeMirror is about a megabyte: one chunk, loaded once and cached for good.
    chunkSizeWarningLimit: 3000,
    rolldownOptions: {
      onwarn(warning, warn) {
        // React Server Components markers ("use client") in GraphiQL's dependencies mean nothing
        // in a client-only bundle.
        if (warning.code === "MODULE_LEVEL_DIRECTIVE") return;
        warn(warning);
      },
    },
  },
  logLevel: "warn",
});
