import "reflect-metadata";
import path from "node:path";
import { ConfigError, loadConfig, type Config } from "./config";
import { connectWithRetry, disconnectDatabase, withDatabaseName } from "./db/connection";
import { startEmbeddedDatabase, type RunningDatabase } from "./db/embedded-database";
import { createLogger } from "./logger";
import { startServer } from "./server";

function readConfig(): Config {
  try {
    return loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      for (const problem of error.problems) console.error(`config: ${problem}`);
      process.exit(1);
    }
    throw error;
  }
}

/** Host and port only: a connection string may carry a password. */
function describeUri(uri: string): string {
  try {
    return new URL(uri).host;
  } catch {
    return "(unparseable URI)";
  }
}

async function main(): Promise<void> {
  const config = readConfig();
  const logger = createLogger(config);
  if (config.jwt.secretGenerated) {
    logger.warn(
      "JWT_SECRET is not set: using a random secret for this run. Tokens will not survive a restart.",
    );
  }

  let embedded: RunningDatabase | undefined;
  let uri = config.mongodbUri;
  if (!uri) {
    embedded = await startEmbeddedDatabase({
      dataDir: path.resolve(".data", "ferretdb"),
      log: (message) => logger.info(message),
    });
    uri = withDatabaseName(embedded.uri, "graphql-jwt-auth");
  }

  // Serve first, connect after: /healthz answers at once, /readyz says 503 until the database
  // answers, and requests that need it get SERVICE_UNAVAILABLE instead of a refused connection.
  const server = await startServer(config, logger);
  logger.info(`GraphQL ready at ${server.url}`);

  const connecting = new AbortController();
  const connected = connectWithRetry(uri, {
    signal: connecting.signal,
    onRetry: (error, delayMs) =>
      logger.warn(
        { database: describeUri(uri), retryInMs: delayMs, error: (error as Error).message },
        "database unreachable; retrying",
      ),
    onHungHealthCheck: () =>
      logger.warn(
        { database: describeUri(uri) },
        "database health check hung; reconnecting with a new client",
      ),
  }).then(
    () => logger.info({ database: describeUri(uri) }, "database connected"),
    () => undefined,
  );

  let stopping = false;
  const shutdown = async (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, "shutting down: draining in-flight requests");
    try {
      // Stops accepting connections, then waits for in-flight requests (up to SHUTDOWN_TIMEOUT).
      await server.close();
      connecting.abort();
      await connected;
      await disconnectDatabase();
      await embedded?.stop();
      logger.info("stopped");
      process.exit(0);
    } catch (error) {
      logger.error({ err: error }, "error during shutdown");
      process.exit(1);
    }
  };
  process.on("SIGTERM", (signal) => void shutdown(signal));
  process.on("SIGINT", (signal) => void shutdown(signal));
}

main().catch((error: unknown) => {
  console.error("fatal:", error instanceof Error ? error.message : error);
  process.exit(1);
});
