import pino, { type Logger } from "pino";
import type { Config } from "./config";

export type { Logger } from "pino";

/**
 * JSON logs. Redaction is a second line of defence: the code never logs secrets on purpose,
 * and these paths catch the places they would be if it ever did.
 */
export const REDACTED_PATHS = [
  "password",
  "*.password",
  "refreshToken",
  "*.refreshToken",
  "accessToken",
  "*.accessToken",
  "headers.authorization",
  "headers.cookie",
  'headers["x-access-token"]',
  "*.headers.authorization",
  "*.headers.cookie",
  '*.headers["x-access-token"]',
];

export function createLogger(
  config: Pick<Config, "logLevel">,
  destination?: pino.DestinationStream,
): Logger {
  const options: pino.LoggerOptions = {
    level: config.logLevel,
    base: { service: "graphql-jwt-auth" },
    redact: { paths: REDACTED_PATHS, censor: "[redacted]" },
  };
  return destination ? pino(options, destination) : pino(options);
}
