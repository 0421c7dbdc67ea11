import { randomUUID } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { ApolloServer, type ApolloServerPlugin } from "@apollo/server";
import { ApolloServerPluginDrainHttpServer } from "@apollo/server/plugin/drainHttpServer";
import { ApolloServerPluginLandingPageDisabled } from "@apollo/server/plugin/disabled";
import { unwrapResolverError } from "@apollo/server/errors";
import { expressMiddleware } from "@as-integrations/express5";
import cors from "cors";
import express, { type ErrorRequestHandler } from "express";
import { GraphQLError, type GraphQLFormattedError, type GraphQLSchema } from "graphql";
import { buildSchema } from "type-graphql";
import { authChecker } from "./auth/auth-checker";
import { clearRefreshCookieHeader, refreshCookieHeader } from "./auth/refresh-cookie";
import type { Config } from "./config";
import { createContext, type Context } from "./context";
import { ideRouter } from "./ide";
import { webExampleRouter } from "./web-example";
import { isDatabaseConnected, isDatabaseReady, whenDatabaseConnected } from "./db/connection";
import { isDatabaseUnavailableError } from "./db/mongo-errors";
import { serviceUnavailable } from "./errors";
import { operationLimitsRule } from "./graphql/operation-limits";
import { requestLoggingPlugin } from "./graphql/request-logging.plugin";
import { stringLengthLimitPlugin } from "./graphql/string-length-limit.plugin";
import type { Logger } from "./logger";
import { AuthResolver } from "./resolvers/auth.resolver";
import { ContentResolver } from "./resolvers/content.resolver";
import { UserResolver } from "./resolvers/user.resolver";
import { createServices, type Services } from "./services/services";

export const GRAPHQL_PATH = "/graphql";
/** graphql-js stops parsing past this many tokens: a 100 kB body of aliases never gets built. */
const MAX_TOKENS = 5_000;

let schemaPromise: Promise<GraphQLSchema> | undefined;

/** The executable schema, built once per process and shared by every server instance. */
export function createSchema(): Promise<GraphQLSchema> {
  schemaPromise ??= buildSchema({
    resolvers: [ContentResolver, UserResolver, AuthResolver],
    authChecker,
    // Input rules live in the services, which name the offending field in BAD_USER_INPUT.
    validate: false,
  });
  return schemaPromise;
}

export interface AppServer {
  readonly url: string;
  readonly services: Services;
  readonly httpServer: http.Server;
  close(): Promise<void>;
}

/**
 * What was actually thrown, below the GraphQLErrors that graphql-js (locatedError) and Apollo
 * (context creation, plugins) wrap around it.
 */
function rootCause(error: unknown): unknown {
  let current = unwrapResolverError(error);
  while (current instanceof GraphQLError && current.originalError) current = current.originalError;
  return current;
}

/**
 * True for errors no one meant a client to read: anything but our own GraphQLErrors,
 * graphql-js's parse/validation errors and Apollo's coded errors (BAD_USER_INPUT for bad
 * variables, BAD_REQUEST, ...). A thrown Error's message may hold internals.
 */
function isUnexpected(error: unknown, code: unknown): boolean {
  if (code !== undefined && code !== "INTERNAL_SERVER_ERROR") return false;
  return !(rootCause(error) instanceof GraphQLError);
}

/** Only our own GraphQLErrors and graphql-js's parse/validation errors reach clients as-is. */
function formatError() {
  return (formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError => {
    if (isDatabaseUnavailableError(rootCause(error))) {
      const unavailable = serviceUnavailable();
      return {
        message: unavailable.message,
        path: formatted.path,
        extensions: unavailable.extensions,
      };
    }
    const code = formatted.extensions?.code;
    if (
      (code === undefined || code === "INTERNAL_SERVER_ERROR") &&
      formatted.path === undefined &&
      rootCause(error) instanceof GraphQLError
    ) {
      // graphql-js and Apollo refuse some requests with an uncoded GraphQLError (a subscription
      // on a schema without them, say); Apollo would label that a server fault. It is the
      // request's.
      return { ...formatted, extensions: { ...formatted.extensions, code: "BAD_REQUEST" } };
    }
    if (!isUnexpected(error, code)) return formatted;
    // Logged with the request id by errorLoggingPlugin, which sees the request's context.
    return {
      message: "Internal server error.",
      path: formatted.path,
      extensions: { code: "INTERNAL_SERVER_ERROR" },
    };
  };
}

/**
 * Logs what formatError masks, with the request id the client gets in x-request-id and in
 * extensions.requestId, so a user's report leads to the stack trace.
 */
function errorLoggingPlugin(logger: Logger): ApolloServerPlugin<Context> {
  return {
    async contextCreationDidFail({ error }) {
      logger.error({ err: error }, "unexpected error while reading a request");
    },
    async requestDidStart() {
      return {
        async didEncounterErrors({ contextValue, errors }) {
          for (const error of errors) {
            const cause = rootCause(error);
            const details = { requestId: contextValue.requestId, path: error.path };
            if (isDatabaseUnavailableError(cause)) {
              logger.warn({ ...details, err: cause }, "database unavailable");
            } else if (isUnexpected(error, error.extensions?.code)) {
              logger.error({ ...details, err: cause }, "unexpected error in a resolver");
            }
          }
        },
      };
    },
  };
}

/** Puts the request id on masked errors so a user's report can be matched with the log line. */
const requestIdPlugin: ApolloServerPlugin<Context> = {
  async requestDidStart() {
    return {
      async willSendResponse({ contextValue, response }) {
        response.http.headers.set("x-request-id", contextValue.requestId);
        if (response.body.kind !== "single") return;
        const errors = response.body.singleResult.errors;
        if (!errors) return;
        response.body.singleResult.errors = errors.map((e) =>
          e.extensions?.code === "INTERNAL_SERVER_ERROR"
            ? { ...e, extensions: { ...e.extensions, requestId: contextValue.requestId } }
            : e,
        );
      },
    };
  },
};

/** express answers a body it can't parse with an HTML page; GraphQL clients expect JSON. */
const jsonErrorHandler =
  (bodyLimitBytes: number, logger: Logger): ErrorRequestHandler =>
  (error, _req, res, next) => {
    if (res.headersSent) return next(error);
    const err = error as { status?: number; type?: string };
    const status =
      typeof err.status === "number" && err.status >= 400 && err.status < 500 ? err.status : 500;
    const message =
      err.type === "entity.too.large"
        ? `Request body is larger than ${bodyLimitBytes} bytes.`
        : err.type === "entity.parse.failed"
          ? "Request body is not valid JSON."
          : status < 500
            ? "Bad request."
            : "Internal server error.";
    if (status >= 500) logger.error({ err: error }, "unexpected error outside GraphQL");
    res
      .status(status)
      .type("application/json")
      .send(
        JSON.stringify({
          errors: [
            {
              message,
              extensions: { code: status < 500 ? "BAD_REQUEST" : "INTERNAL_SERVER_ERROR" },
            },
          ],
        }),
      );
  };

/**
 * Builds and starts one server instance on config.port (0 picks a free port). No I/O happens
 * at import; tests start as many instances as they need, each with its own config.
 */
export async function startServer(config: Config, logger: Logger): Promise<AppServer> {
  const schema = await createSchema();
  const services = createServices(config);
  const app = express();
  app.disable("x-powered-by");
  const httpServer = http.createServer(app);

  app.set("trust proxy", config.trustProxy);
  const apollo = new ApolloServer<Context>({
    schema,
    introspection: config.graphql.introspection,
    includeStacktraceInErrorResponses: false,
    // Refuses GET queries and simple-request content types, so a page on another origin
    // cannot make a browser run a mutation with the user's cookies.
    csrfPrevention: true,
    allowBatchedHttpRequests: config.graphql.allowBatchedRequests,
    // Automatic persisted queries would let a client park documents in server memory; no
    // client of an auth server needs them.
    persistedQueries: false,
    parseOptions: { maxTokens: MAX_TOKENS },
    validationRules: [
      operationLimitsRule({
        maxDepth: config.graphql.maxDepth,
        maxAliases: config.graphql.maxAliases,
        maxCost: config.graphql.maxCost,
      }),
    ],
    formatError: formatError(),
    plugins: [
      ApolloServerPluginDrainHttpServer({
        httpServer,
        stopGracePeriodMillis: config.shutdownTimeoutSeconds * 1000,
      }),
      requestIdPlugin,
      errorLoggingPlugin(logger),
      requestLoggingPlugin(logger),
      stringLengthLimitPlugin<Context>(config.graphql.maxStringLength),
      // GET /graphql from a browser is answered by ideRouter (when GRAPHQL_IDE is on); Apollo's
      // own landing page would load Sandbox from a CDN, a blank page offline.
      ApolloServerPluginLandingPageDisabled(),
    ],
  });
  await apollo.start();

  app.get("/healthz", (_req, res) => {
    res.json({ status: "ok" });
  });
  app.get("/readyz", async (_req, res) => {
    const ready = await isDatabaseReady();
    res.status(ready ? 200 : 503).json({ status: ready ? "ready" : "database unavailable" });
  });

  // Before the GraphQL middleware: a browser navigating to /graphql gets the IDE page.
  if (config.graphql.ide) app.use(ideRouter({ graphqlPath: GRAPHQL_PATH }));
  // The example client, same origin as the API (its refresh cookie is SameSite=Strict).
  if (config.nodeEnv !== "production") app.use(webExampleRouter());

  app.use(
    GRAPHQL_PATH,
    (req, res, next) => {
      // Requests Apollo refuses before running an operation (CSRF, batching, bad bodies) never
      // reach the logging plugin; they get their line here.
      const requestId = randomUUID();
      res.locals.requestId = requestId;
      res.setHeader("x-request-id", requestId);
      res.on("finish", () => {
        if (res.locals.contextCreated) return;
        logger.info(
          {
            requestId,
            operationName: null,
            method: req.method,
            clientIp: req.ip,
            status: res.statusCode,
          },
          "graphql request refused before execution",
        );
      });
      next();
    },
    cors<cors.CorsRequest>({
      origin: config.corsOrigins.length > 0 ? [...config.corsOrigins] : false,
      credentials: true,
    }),
    express.json({ limit: config.graphql.bodyLimitBytes }),
    expressMiddleware(apollo, {
      context: async ({ req, res }) => {
        res.locals.contextCreated = true;
        return createContext(req, services, {
          requestId: String(res.locals.requestId),
          setRefreshTokenCookie: (token) => {
            const options = { path: GRAPHQL_PATH, secure: config.cookieSecure };
            res.append(
              "Set-Cookie",
              token
                ? refreshCookieHeader(token.value, token.expiresAt, options)
                : clearRefreshCookieHeader(options),
            );
          },
        });
      },
    }),
  );
  app.use((_req, res) => {
    res
      .status(404)
      .json({ errors: [{ message: "Not found.", extensions: { code: "NOT_FOUND" } }] });
  });
  app.use(jsonErrorHandler(config.graphql.bodyLimitBytes, logger));

  const initialAdmin = config.initialAdmin;
  if (initialAdmin) {
    const createAdmin = async () => {
      const outcome = await services.users.ensureInitialAdmin(initialAdmin);
      logger.info(
        { username: initialAdmin.username },
        outcome === "created" ? "initial admin created" : "initial admin exists; left unchanged",
      );
    };
    // With the database already up, the admin exists before the first request; otherwise it
    // is created as soon as the database comes up.
    if (isDatabaseConnected()) await createAdmin();
    else
      whenDatabaseConnected(() => {
        createAdmin().catch((error: unknown) =>
          logger.error({ err: error }, "could not create the initial admin"),
        );
      });
  }

  await new Promise<void>((resolve, reject) => {
    httpServer.once("error", reject);
    httpServer.listen(config.port, config.host, () => resolve());
  });
  const { port } = httpServer.address() as AddressInfo;
  const host = config.host === "0.0.0.0" || config.host === "::" ? "localhost" : config.host;

  return {
    url: `http://${host}:${port}${GRAPHQL_PATH}`,
    services,
    httpServer,
    // apollo.stop() closes the listener and drains in-flight requests (drain plugin).
    close: async () => {
      await apollo.stop();
      // After apollo.stop(), which lets in-flight signins finish their hashing.
      await services.passwords.close();
    },
  };
}
