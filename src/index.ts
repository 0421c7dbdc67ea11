import "reflect-metadata";
import { ConfigError, loadConfig, type Config } from "./config";
import { connectWithRetry, disconnectDatabase, withDatabaseName } from "./db/connection";
import {
  defaultDataDir,
  startEmbeddedDatabase,
  type RunningDatabase,
} from "./db/embedded-database";
import { createLogger } from "./logger";
import { startServer } from "./server";
import { WEB_EXAMPLE_PATH } from "./web-example";

/** Read before anything else: once the channel closes, process.send may be gone too. */
const launchedWithIpc = typeof process.send === "function";

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
  const managedKeys = config.jwt.algorithm !== "HS256" && config.jwt.privateKeyPem === undefined;
  if (managedKeys && config.jwt.keyEncryptionSecret === undefined) {
    logger.warn(
      `Signing with managed ${config.jwt.algorithm} keys stored unencrypted: set JWT_KEY_ENCRYPTION_SECRET (required in production).`,
    );
  }

  let embedded: RunningDatabase | undefined;
  let uri = config.mongodbUri;
  if (!uri) {
    embedded = await startEmbeddedDatabase({
      dataDir: defaultDataDir(),
      log: (message) => logger.info(message),
      backend:
        config.embeddedBackend === "postgres"
          ? { kind: "postgres", url: config.postgresqlUrl }
          : { kind: "sqlite" },
    });
    uri = withDatabaseName(embedded.uri, "graphql-jwt-auth");
  }

  // Serve first, connect after: /healthz answers at once, /readyz says 503 until the database
  // answers, and requests that need it get SERVICE_UNAVAILABLE instead of a refused connection.
  const server = await startServer(config, logger);
  logger.info(`GraphQL ready at ${server.url}`);
  const origin = new URL(server.url).origin;
  if (config.graphql.ide) logger.info(`GraphiQL IDE at ${server.url} (open it in a browser)`);
  if (server.metricsUrl) logger.info(`Prometheus metrics at ${server.metricsUrl}`);
  if (config.nodeEnv !== "production") logger.info(`Example app at ${origin}${WEB_EXAMPLE_PATH}/`);

  const connecting = new AbortController();
  const connected = connectWithRetry(uri, {
    signal: connecting.signal,
    monitorCommands: config.metrics.enabled,
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
  const shutdown = async (reason: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal: reason }, "shutting down: draining in-flight requests");
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
  process.on("SIGHUP", (signal) => void shutdown(signal));
  // scripts/start.mjs (npm start) runs the server with an IPC channel. The kernel closes it
  // when the launcher dies however it dies (its npm killed with SIGKILL, say): the server then
  // stops, database included, instead of living on as an orphan holding the port and the data.
  if (launchedWithIpc) {
    if (process.connected) process.once("disconnect", () => void shutdown("launcher exited"));
    else void shutdown("launcher exited"); // it died while the database was starting
  }
}

main().catch((error: unknown) => {
  console.error("fatal:", error instanceof Error ? error.message : error);
  process.exit(1);
});
