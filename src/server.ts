import { randomUUID } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { ApolloServer } from "@apollo/server";
import { ApolloServerPluginDrainHttpServer } from "@apollo/server/plugin/drainHttpServer";
import { ApolloServerPluginLandingPageDisabled } from "@apollo/server/plugin/disabled";
import { expressMiddleware } from "@as-integrations/express5";
import cors from "cors";
import express from "express";
import type { GraphQLSchema } from "graphql";
import { buildSchema } from "type-graphql";
import { authChecker } from "./auth/auth-checker";
import type { Config } from "./config";
import { createContext, type Context } from "./context";
import { ideRouter } from "./ide";
import { webExampleRouter } from "./web-example";
import { isDatabaseConnected, isDatabaseReady, whenDatabaseConnected } from "./db/connection";
import {
  errorLoggingPlugin,
  formatError,
  jsonErrorHandler,
  requestIdPlugin,
} from "./graphql/error-handling";
import { operationLimitsRule } from "./graphql/operation-limits";
import { requestLoggingPlugin } from "./graphql/request-logging.plugin";
import { stringLengthLimitPlugin } from "./graphql/string-length-limit.plugin";
import type { Logger } from "./logger";
import { AuthResolver } from "./resolvers/auth.resolver";
import { ContentResolver } from "./resolvers/content.resolver";
import { UserResolver } from "./resolvers/user.resolver";
import { logSecurityEvents } from "./services/security-events";
import { createServices, type ServiceOptions, type Services } from "./services/services";

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
 * Builds and starts one server instance on config.port (0 picks a free port). No I/O happens
 * at import; tests start as many instances as they need, each with its own config.
 */
export async function startServer(
  config: Config,
  logger: Logger,
  options: ServiceOptions = {},
): Promise<AppServer> {
  const schema = await createSchema();
  const services = createServices(config, options);
  logSecurityEvents(services.events, logger);
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
    // src/index.ts owns SIGTERM/SIGINT (drain, close the database, stop the embedded one).
    // Apollo's own handlers, on by default outside NODE_ENV=test, raced it and left the
    // process hanging in apollo.stop() after a signal.
    stopOnTerminationSignals: false,
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
          appendSetCookie: (header) => res.append("Set-Cookie", header),
          cookie: { path: GRAPHQL_PATH, secure: config.cookieSecure },
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
  const prepareData = async () => {
    await services.roster.ensureBuilt();
    if (!initialAdmin) return;
    const outcome = await services.users.ensureInitialAdmin(initialAdmin);
    logger.info(
      { username: initialAdmin.username },
      outcome === "created" ? "initial admin created" : "initial admin exists; left unchanged",
    );
  };
  // With the database already up, the admin exists before the first request; otherwise it
  // is created as soon as the database comes up.
  if (isDatabaseConnected()) await prepareData();
  else
    whenDatabaseConnected(() => {
      prepareData().catch((error: unknown) =>
        logger.error(
          { err: error },
          "could not prepare the database (admin roster, initial admin)",
        ),
      );
    });

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
