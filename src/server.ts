import { randomUUID } from "node:crypto";
import type http from "node:http";
import type { AddressInfo } from "node:net";
import { ApolloServer, type ApolloServerPlugin } from "@apollo/server";
import {
  ApolloServerPluginCacheControlDisabled,
  ApolloServerPluginLandingPageDisabled,
} from "@apollo/server/plugin/disabled";
import { fastifyApolloHandler } from "@as-integrations/fastify";
import fastifyAccepts from "@fastify/accepts";
import fastifyCors from "@fastify/cors";
import fastify, {
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
} from "fastify";
import type { GraphQLSchema } from "graphql";
import { buildSchema } from "type-graphql";
import { authChecker } from "./auth/auth-checker";
import { BackgroundJobs } from "./background/background-jobs";
import type { Config } from "./config";
import { createContext, type Context } from "./context";
import { serveKeyDiscovery } from "./key-discovery";
import { securityHeaders } from "./security-headers";
import { ideGraphqlPageHook, serveIdeAssets } from "./ide";
import { serveWebExample } from "./web-example";
import { isDatabaseConnected, isDatabaseReady, whenDatabaseConnected } from "./db/connection";
import {
  clientErrorHandler,
  errorBody,
  errorLoggingPlugin,
  formatError,
  jsonErrorHandler,
  requestIdPlugin,
} from "./graphql/error-handling";
import { operationLimitsRule } from "./graphql/operation-limits";
import { ignoreRequestBodies, parseGraphqlBodies } from "./graphql/request-body";
import { refusedRequestLogger, requestLoggingPlugin } from "./graphql/request-logging.plugin";
import { stringLengthLimitPlugin } from "./graphql/string-length-limit.plugin";
import type { Logger } from "./logger";
import { AdminResolver } from "./resolvers/admin.resolver";
import { serveDevMailPage } from "./mail/dev-mail-page";
import {
  createServerMetrics,
  METRICS_PATH,
  serveMetrics,
  startMetricsListener,
} from "./metrics/metrics";
import { AccountResolver } from "./resolvers/account.resolver";
import { AuthResolver } from "./resolvers/auth.resolver";
import { ContentResolver } from "./resolvers/content.resolver";
import { SessionResolver } from "./resolvers/session.resolver";
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
    resolvers: [
      ContentResolver,
      UserResolver,
      AuthResolver,
      SessionResolver,
      AdminResolver,
      AccountResolver,
    ],
    authChecker,
    // Input rules live in the services, which name the offending field in BAD_USER_INPUT.
    validate: false,
  });
  return schemaPromise;
}

declare module "fastify" {
  interface FastifyRequest {
    /**
     * Set when a /graphql request comes in, cleared once Apollo builds its context: still set
     * when the answer goes out means Apollo (or the body parser) refused the request before
     * any operation ran, and the logging plugin never saw it.
     */
    refusedBeforeExecution: boolean;
  }
}

export interface AppServer {
  readonly url: string;
  readonly services: Services;
  readonly background: BackgroundJobs;
  readonly httpServer: http.Server;
  /** Where GET /metrics answers: undefined with metrics off. */
  readonly metricsUrl: string | undefined;
  close(): Promise<void>;
}

/**
 * TRUST_PROXY as fastify takes it. A hop count trusts that many hops, whatever their
 * addresses, as it always has here (proxy-addr's rule); fastify itself would trust no hop at
 * all for a number. Addresses and subnets are the stricter choice, and README says so.
 */
function trustProxyOption(
  trustProxy: Config["trustProxy"],
): boolean | string[] | ((address: string, hop: number) => boolean) {
  if (typeof trustProxy === "number") return (_address, hop) => hop < trustProxy;
  return typeof trustProxy === "object" ? [...trustProxy] : trustProxy;
}

/**
 * Like @as-integrations/fastify's fastifyApolloDrainPlugin (stop accepting, let in-flight
 * requests finish, then cut the connections left), with SHUTDOWN_TIMEOUT as the grace period
 * where that one has a fixed 10 s.
 */
function drainPlugin(app: FastifyInstance, gracePeriodMs: number): ApolloServerPlugin<Context> {
  return {
    async serverWillStart() {
      return {
        async drainServer() {
          const cut = setTimeout(() => app.server.closeAllConnections(), gracePeriodMs);
          try {
            await app.close();
          } finally {
            clearTimeout(cut);
          }
        },
      };
    },
  };
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
  // Development without SMTP_URL: mail goes over real SMTP to a catcher in this process, shown
  // at /dev/mail, so every flow works offline. (Production without SMTP_URL does not start.)
  const mailCatcher =
    config.email.enabled && !config.email.smtpUrl && config.nodeEnv !== "production"
      ? // Loaded only here: its SMTP server and mail parser are 5 MB of heap production never uses.
        await (await import("./mail/smtp-inbox")).SmtpInbox.start()
      : undefined;
  const services = createServices(config, { ...options, logger, smtpUrl: mailCatcher?.url });
  logSecurityEvents(services.events, logger);
  const metrics = config.metrics.enabled
    ? createServerMetrics({ schema, events: services.events, passwords: services.passwords })
    : undefined;
  const timeouts = config.httpTimeouts;
  const headers = await securityHeaders();
  const app = fastify({
    // Fastify's request log would hold URLs and headers; ours (request-logging.plugin.ts and
    // the onResponse hook below) is built from chosen fields only.
    logger: false,
    trustProxy: trustProxyOption(config.trustProxy),
    bodyLimit: config.graphql.bodyLimitBytes,
    genReqId: () => randomUUID(),
    // A client that trickles its request a byte at a time must not hold a connection for the
    // 300 s node allows (fastify: forever) by default.
    requestTimeout: timeouts.requestSeconds * 1000,
    keepAliveTimeout: timeouts.keepAliveSeconds * 1000,
    http: {
      headersTimeout: timeouts.headersSeconds * 1000,
      requestTimeout: timeouts.requestSeconds * 1000,
      // How often node looks for connections past those timeouts (30 s by default).
      connectionsCheckingInterval: 1000,
    },
    clientErrorHandler: clientErrorHandler(headers),
    // A path that is not valid percent-encoding: answered before any route or hook.
    frameworkErrors: (_error: FastifyError, _request: FastifyRequest, reply: FastifyReply) =>
      reply
        .code(400)
        .headers(headers)
        .type("application/json; charset=utf-8")
        .send(errorBody("Bad request.", "BAD_REQUEST")),
  });
  app.decorateRequest("refusedBeforeExecution", false);

  const apollo = new ApolloServer<Context>({
    schema,
    introspection: config.graphql.introspection,
    // "Did you mean adminContent?" would list the schema a name at a time where introspection
    // is off (formatError covers the errors this leaves out).
    hideSchemaDetailsFromClientErrors: !config.graphql.introspection,
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
    formatError: formatError({ hideSchemaDetails: !config.graphql.introspection }),
    // Apollo runs every plugin's hooks on every request: keep this list short.
    plugins: [
      drainPlugin(app, config.shutdownTimeoutSeconds * 1000),
      requestIdPlugin,
      errorLoggingPlugin(logger),
      requestLoggingPlugin(logger),
      stringLengthLimitPlugin<Context>(config.graphql.maxStringLength),
      ...(metrics ? [metrics.plugin] : []),
      // Installed by default, it wraps every field resolver to collect cache hints; we set
      // none and answer every request fresh.
      ApolloServerPluginCacheControlDisabled(),
      // GET /graphql from a browser is answered by the IDE hook (when GRAPHQL_IDE is on);
      // Apollo's own landing page would load Sandbox from a CDN, a blank page offline.
      ApolloServerPluginLandingPageDisabled(),
    ],
  });
  await apollo.start();

  // Every answer, 404s and errors included: the hook runs before anything can fail.
  app.addHook("onRequest", (_request, reply, done) => {
    void reply.headers(headers);
    done();
  });
  await app.register(fastifyAccepts);
  ignoreRequestBodies(app);
  app.setErrorHandler(jsonErrorHandler(config.graphql.bodyLimitBytes, logger));
  app.setNotFoundHandler((_request, reply) =>
    reply
      .code(404)
      .type("application/json; charset=utf-8")
      .send(errorBody("Not found.", "NOT_FOUND")),
  );

  app.get("/healthz", async () => ({ status: "ok" }));
  serveKeyDiscovery(app, services.accessTokens.keys, config.jwt.issuer);
  app.get("/readyz", async (_request, reply) => {
    const ready = await isDatabaseReady();
    return reply.code(ready ? 200 : 503).send({ status: ready ? "ready" : "database unavailable" });
  });

  if (metrics && config.metrics.port === undefined) serveMetrics(app, metrics);
  if (config.graphql.ide) await serveIdeAssets(app);
  // The example client, same origin as the API (its refresh cookie is SameSite=Strict).
  if (config.nodeEnv !== "production") await serveWebExample(app);
  if (mailCatcher) serveDevMailPage(app, mailCatcher);

  const cookieOptions = { path: GRAPHQL_PATH, secure: config.cookieSecure };
  const logRefused = refusedRequestLogger(logger);
  const graphqlHandler = fastifyApolloHandler(apollo, {
    context: async (request: FastifyRequest, reply: FastifyReply) => {
      request.refusedBeforeExecution = false;
      return createContext(request, services, {
        requestId: request.id,
        // fastify appends repeated set-cookie headers instead of replacing them.
        appendSetCookie: (header) => void reply.header("set-cookie", header),
        cookie: cookieOptions,
      });
    },
  });

  await app.register(
    async (graphql) => {
      // A browser navigating to /graphql gets the IDE page: a page, not an API request.
      if (config.graphql.ide) graphql.addHook("onRequest", ideGraphqlPageHook());
      graphql.addHook("onRequest", (request, reply, done) => {
        request.refusedBeforeExecution = true;
        // Tokens travel in these answers: no cache, shared or private, may keep them.
        void reply.header("x-request-id", request.id).header("cache-control", "no-store");
        done();
      });
      // Requests refused before an operation runs (CSRF, batching, bad bodies) never reach
      // the logging plugin; they get their line here.
      graphql.addHook("onResponse", (request, reply, done) => {
        if (request.refusedBeforeExecution) {
          logRefused({
            requestId: request.id,
            method: request.method,
            clientIp: request.ip,
            status: reply.statusCode,
          });
          metrics?.requestRefused(reply.elapsedTime / 1000);
        }
        done();
      });
      // Without CORS_ORIGINS no other origin may call: nothing to add to any answer.
      if (config.corsOrigins.length > 0) {
        await graphql.register(fastifyCors, {
          origin: [...config.corsOrigins],
          credentials: true,
          // Like any other OPTIONS request, a preflight without its headers gets a plain answer.
          strictPreflight: false,
        });
      }
      await parseGraphqlBodies(graphql);
      // Every method: Apollo answers the ones it does not serve with 405 (or its CSRF refusal).
      graphql.all("", graphqlHandler);
    },
    { prefix: GRAPHQL_PATH },
  );

  const initialAdmin = config.initialAdmin;
  const prepareData = async () => {
    // Keys first: a signin can only answer once there is a key to sign with.
    await services.managedKeys?.ensureKeys();
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

  const background = new BackgroundJobs(services.backgroundJobs, services.leases, logger);
  background.start();
  services.managedKeys?.startReloading((error) =>
    logger.warn({ err: error }, "could not reload the signing keys; retrying"),
  );

  await app.listen({ port: config.port, host: config.host });
  const { port } = app.server.address() as AddressInfo;
  const host = config.host === "0.0.0.0" || config.host === "::" ? "localhost" : config.host;
  const metricsListener =
    metrics && config.metrics.port !== undefined
      ? await startMetricsListener(metrics, config.host, config.metrics.port)
      : undefined;
  const metricsUrl = metrics
    ? `http://${host}:${metricsListener?.port ?? port}${METRICS_PATH}`
    : undefined;
  services.links.serverListening(`http://${host}:${port}`);
  if (mailCatcher) {
    logger.info(`Mail (development catcher) at http://${host}:${port}/dev/mail`);
  }

  return {
    url: `http://${host}:${port}${GRAPHQL_PATH}`,
    services,
    background,
    httpServer: app.server,
    metricsUrl,
    // apollo.stop() closes the listener and drains in-flight requests (drainPlugin).
    close: async () => {
      services.managedKeys?.stopReloading();
      await background.stop();
      await apollo.stop();
      // After apollo.stop(), which lets in-flight signins finish their hashing.
      await services.passwords.close();
      await mailCatcher?.close();
      await metricsListener?.close();
    },
  };
}
