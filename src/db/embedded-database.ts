import { promises as fs } from "node:fs";
import os from "node:os";
import path from "node:path";
import {
  FERRETDB_VERSION,
  locateFerretdb,
  startFerretdb,
  type Log,
  type RunningDatabase,
} from "./ferretdb";

import { startPostgresCluster } from "./postgres-cluster";

export type { RunningDatabase } from "./ferretdb";
export { DataDirInUseError, stopOrphanedFerretdb } from "./data-dir-claim";

/** Where `npm start`'s embedded database keeps its files: .data/ferretdb in the working folder. */
export function defaultDataDir(): string {
  return path.resolve(".data", "ferretdb");
}

/** Where `npm start` keeps a private PostgreSQL cluster: .data/postgres in the working folder. */
export function defaultPostgresClusterDir(): string {
  return path.resolve(".data", "postgres");
}

export type EmbeddedBackend =
  | { readonly kind: "sqlite" }
  /**
   * FerretDB on the PostgreSQL at `url`; without one, on a private cluster in `clusterDir`
   * (default: defaultPostgresClusterDir()), started and stopped with the database.
   */
  | { readonly kind: "postgres"; readonly url?: string; readonly clusterDir?: string };

/**
 * The database used when MONGODB_URI is unset: FerretDB as a child process, on SQLite files in
 * `dataDir` (or, where Go is missing to build it, mongodb-memory-server, which downloads a
 * mongod), or on PostgreSQL.
 */
export async function startEmbeddedDatabase(options: {
  dataDir: string;
  log: Log;
  backend?: EmbeddedBackend;
}): Promise<RunningDatabase> {
  if (options.backend?.kind === "postgres") {
    return startOnPostgres(options.backend, options.log);
  }
  const binary = await locateFerretdb(options.log);
  if (binary) {
    const database = await startFerretdb({ binary, dataDir: options.dataDir, log: options.log });
    options.log(`Embedded FerretDB ${FERRETDB_VERSION} (SQLite) listening on ${database.uri}`);
    return database;
  }
  options.log(
    "Go is not installed, so FerretDB can't be built: falling back to mongodb-memory-server.",
  );
  return startMemoryServer(options.dataDir);
}

interface MemoryServerModule {
  MongoMemoryServer: {
    create(options: { instance: { dbPath: string; storageEngine: string } }): Promise<{
      getUri(): string;
      stop(): Promise<boolean>;
    }>;
  };
}

async function startMemoryServer(dataDir: string): Promise<RunningDatabase> {
  let module: MemoryServerModule;
  try {
    // Optional: only loaded on machines without Go, and its name is kept out of the type graph.
    const name = "mongodb-memory-server";
    module = (await import(name)) as MemoryServerModule;
  } catch {
    throw new Error(
      "No database: set MONGODB_URI, install Go (to build FerretDB), or `npm install mongodb-memory-server`.",
    );
  }
  const server = await module.MongoMemoryServer.create({
    instance: { dbPath: dataDir, storageEngine: "wiredTiger" },
  });
  return {
    uri: server.getUri().replace(/\/$/, ""),
    stop: async () => {
      await server.stop();
    },
  };
}

async function startOnPostgres(
  { url, clusterDir }: { url?: string; clusterDir?: string },
  log: Log,
): Promise<RunningDatabase> {
  const binary = await locateFerretdb(log);
  if (!binary) {
    throw new Error(
      "Go is not installed, so FerretDB can't be built: install Go, or set MONGODB_URI.",
    );
  }
  const cluster =
    url === undefined
      ? await startPostgresCluster({ dir: clusterDir ?? defaultPostgresClusterDir(), log })
      : undefined;
  // FerretDB keeps only a small state file of its own; the data is in PostgreSQL.
  const stateDir = await fs.mkdtemp(path.join(os.tmpdir(), "graphql-jwt-auth-ferretdb-"));
  try {
    const database = await startFerretdb({
      binary,
      dataDir: stateDir,
      postgresqlUrl: url ?? cluster!.url,
      log,
    });
    log(`Embedded FerretDB ${FERRETDB_VERSION} (PostgreSQL) listening on ${database.uri}`);
    return {
      uri: database.uri,
      stop: async () => {
        await database.stop();
        await cluster?.stop();
        await fs.rm(stateDir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await cluster?.stop();
    await fs.rm(stateDir, { recursive: true, force: true });
    throw error;
  }
}
