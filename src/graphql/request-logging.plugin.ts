import type { ApolloServerPlugin } from "@apollo/server";
import type { Context } from "../context";
import type { Logger } from "../logger";

/**
 * The logger for request lines. They hold chosen fields only, none of them a key the logger
 * redacts, so redaction (about 10 µs a line, the dearest part of a request's log line) has
 * nothing to find in them and is left out.
 */
function requestLines(logger: Logger): Logger {
  return logger.child({}, { redact: [] });
}

/**
 * One JSON line per GraphQL request: who, what, how long, which error codes. Built from
 * chosen fields only (never the variables, headers or response body), so passwords and tokens
 * cannot reach the log even by accident.
 */
export function requestLoggingPlugin(logger: Logger): ApolloServerPlugin<Context> {
  const lines = requestLines(logger);
  return {
    async requestDidStart({ contextValue }) {
      const started = process.hrtime.bigint();
      return {
        async willSendResponse({ response, operationName, errors }) {
          const codes = new Set<string>();
          for (const error of errors ?? []) {
            const code = error.extensions?.code;
            if (typeof code === "string") codes.add(code);
          }
          if (response.body.kind === "single") {
            for (const error of response.body.singleResult.errors ?? []) {
              const code = error.extensions?.code;
              if (typeof code === "string") codes.add(code);
            }
          }
          const { caller } = contextValue;
          lines.info(
            {
              requestId: contextValue.requestId,
              operationName: operationName ?? null,
              durationMs: Number(process.hrtime.bigint() - started) / 1e6,
              userId:
                contextValue.identified.userId ??
                (caller.kind === "authenticated" ? caller.claims.userId : null),
              clientIp: contextValue.clientIp,
              errorCodes: [...codes],
              status: response.http.status ?? 200,
            },
            "graphql request",
          );
        },
      };
    },
  };
}

/**
 * The line of a request refused before any operation ran (CSRF, batching, bodies too large or
 * not JSON): Apollo never created its context, and the plugin above never saw it.
 */
export function refusedRequestLogger(
  logger: Logger,
): (request: { requestId: string; method: string; clientIp: string; status: number }) => void {
  const lines = requestLines(logger);
  return ({ requestId, method, clientIp, status }) =>
    lines.info(
      { requestId, operationName: null, method, clientIp, status },
      "graphql request refused before execution",
    );
}
