import { promises as fs } from "node:fs";
import os from "node:os";
import path from "node:path";
import { startEmbeddedDatabase, type RunningDatabase } from "../../src/db/embedded-database";

declare global {
  var __TEST_DATABASE__: { database: RunningDatabase; dataDir: string } | undefined;
}

/**
 * Starts one private database for the whole run (unless MONGODB_URI points at one) and hands
 * its URI to the test files through the environment. EMBEDDED_DB_BACKEND=postgres runs the
 * whole suite on FerretDB over a private PostgreSQL cluster (POSTGRESQL_URL: over that one).
 */
export default async function globalSetup(): Promise<void> {
  if (process.env.MONGODB_URI) {
    process.env.TEST_MONGODB_URI = process.env.MONGODB_URI;
    return;
  }
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), "graphql-jwt-auth-test-db-"));
  // Run as root, PostgreSQL runs as the postgres user, who must get through to its cluster.
  await fs.chmod(dataDir, 0o711);
  const database = await startEmbeddedDatabase({
    dataDir,
    log: (message) => process.stderr.write(`${message}\n`),
    backend:
      process.env.EMBEDDED_DB_BACKEND === "postgres"
        ? {
            kind: "postgres",
            url: process.env.POSTGRESQL_URL,
            clusterDir: path.join(dataDir, "postgres"),
          }
        : { kind: "sqlite" },
  });
  globalThis.__TEST_DATABASE__ = { database, dataDir };
  process.env.TEST_MONGODB_URI = database.uri;
}
