import { defineConfig } from "vite";

/** The server serves the built app at /app/ (in development) and the API at /graphql. */
export default defineConfig({
  root: import.meta.dirname,
  base: "/app/",
  oxc: { jsx: { runtime: "automatic" } },
  build: {
    outDir: "dist",
    emptyOutDir: true,
  },
  logLevel: "warn",
});
