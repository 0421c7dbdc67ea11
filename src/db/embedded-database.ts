import path from "node:path";
import {
  FERRETDB_VERSION,
  locateFerretdb,
  startFerretdb,
  type Log,
  type RunningDatabase,
} from "./ferretdb";

export type { RunningDatabase } from "./ferretdb";
export { DataDirInUseError, stopOrphanedFerretdb } from "./data-dir-claim";

/** Where `npm start`'s embedded database keeps its files: .data/ferretdb in the working folder. */
export function defaultDataDir(): string {
  return path.resolve(".data", "ferretdb");
}

/**
 * The private database used when MONGODB_URI is unset: FerretDB on SQLite as a child process,
 * or, where Go is missing to build it, mongodb-memory-server (which downloads a mongod).
 */
export async function startEmbeddedDatabase(options: {
  dataDir: string;
  log: Log;
}): Promise<RunningDatabase> {
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
