import "reflect-metadata";
import path from "node:path";
import { ConfigError, loadConfig, type Config } from "./config";
import { connectDatabase, disconnectDatabase, withDatabaseName } from "./db/connection";
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
  await connectDatabase(uri);

  const server = await startServer(config, logger);
  logger.info(`GraphQL ready at ${server.url}`);

  let stopping = false;
  const shutdown = async (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, "shutting down");
    try {
      await server.close();
      await disconnectDatabase();
      await embedded?.stop();
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
