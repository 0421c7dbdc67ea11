import type { ApolloServerPlugin } from "@apollo/server";
import type { Context } from "../context";
import type { Logger } from "../logger";

/**
 * One JSON line per GraphQL request: who, what, how long, which error codes. Built from
 * chosen fields only (never the variables, headers or response body), so passwords and tokens
 * cannot reach the log even by accident.
 */
export function requestLoggingPlugin(logger: Logger): ApolloServerPlugin<Context> {
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
          logger.info(
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
