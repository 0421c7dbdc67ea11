import http from "node:http";
import type { AddressInfo } from "node:net";
import type { ApolloServerPlugin } from "@apollo/server";
import type { FastifyInstance } from "fastify";
import {
  Kind,
  type DocumentNode,
  type GraphQLSchema,
  type OperationDefinitionNode,
  type SelectionSetNode,
} from "graphql";
import {
  collectDefaultMetrics,
  Counter,
  Gauge,
  Histogram,
  Registry,
  type CounterConfiguration,
} from "prom-client";
import type { PasswordHasher } from "../auth/passwords";
import type { Context } from "../context";
import { onDatabaseCommand } from "../db/command-monitor";
import type { SecurityEvent, SecurityEvents } from "../services/security-events";

/**
 * Prometheus metrics (GET /metrics). Every label takes its values from a fixed set known here
 * (root field names of the schema, outcomes, command names), never from what a client sends:
 * a label per operationName or user id would let any client grow the scrape without bound, and
 * would put ids in a system that keeps them forever. No user id, token or address is a label.
 */

/** Seconds; from a cached authorization (sub-millisecond) to a signin queued behind bcrypt. */
const REQUEST_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** Seconds; one bcrypt call of cost 10-14 takes 0.1-2 s, the wait for a thread can be longer. */
const HASHING_BUCKETS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
/** Seconds; an indexed read on a local database takes well under a millisecond. */
const DATABASE_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 3];

const INTROSPECTION = "introspection";
const UNKNOWN = "unknown";

/** Commands this server sends; any other name (there should be none) is counted as "other". */
const DATABASE_COMMANDS: ReadonlySet<string> = new Set([
  "aggregate",
  "count",
  "create",
  "createIndexes",
  "delete",
  "distinct",
  "drop",
  "dropDatabase",
  "endSessions",
  "find",
  "findAndModify",
  "getMore",
  "hello",
  "insert",
  "isMaster",
  "killCursors",
  "listCollections",
  "listIndexes",
  "ping",
  "update",
]);

const SIGNIN_OUTCOMES = [
  "success",
  "invalid_credentials",
  "throttled",
  "account_disabled",
  "email_not_verified",
] as const;
const REFRESH_OUTCOMES = ["rotated", "reused_session_revoked", "expired", "invalid"] as const;
const LOCKOUT_SCOPES = ["account-address", "address", "account"] as const;

type SigninOutcome = (typeof SIGNIN_OUTCOMES)[number];
type RefreshOutcome = (typeof REFRESH_OUTCOMES)[number];

const SIGNIN_FAILURE_OUTCOME: Record<
  Extract<SecurityEvent, { type: "signin_failed" }>["reason"],
  SigninOutcome
> = {
  INVALID_CREDENTIALS: "invalid_credentials",
  ACCOUNT_DISABLED: "account_disabled",
  EMAIL_NOT_VERIFIED: "email_not_verified",
};

const REFRESH_FAILURE_OUTCOME: Record<
  Extract<SecurityEvent, { type: "refresh_failed" }>["reason"],
  RefreshOutcome
> = {
  REFRESH_TOKEN_REUSED: "reused_session_revoked",
  REFRESH_TOKEN_EXPIRED: "expired",
  REFRESH_TOKEN_INVALID: "invalid",
};

/** Every security event type, so each counter exists (at 0) from the first scrape. */
const SECURITY_EVENT_TYPES: readonly SecurityEvent["type"][] = [
  "signin_succeeded",
  "signin_failed",
  "signin_throttled",
  "lockout_started",
  "refresh_rotated",
  "refresh_failed",
  "refresh_token_reused",
  "sessions_ended",
  "roles_changed",
  "account_disabled",
  "account_enabled",
  "account_deleted",
  "password_changed",
  "email_verified",
  "password_reset_requested",
  "signing_key_rotated",
];

/**
 * What one process has once, whatever the number of servers in it (tests start several): the
 * default process metrics (CPU, memory, event-loop lag, GC) and the database, whose connection
 * is the process's.
 */
interface ProcessMetrics {
  readonly registry: Registry;
}

let processMetrics: ProcessMetrics | undefined;

function getProcessMetrics(): ProcessMetrics {
  if (processMetrics) return processMetrics;
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const duration = new Histogram({
    name: "db_command_duration_seconds",
    help: "Database commands by name: time from sending to the answer (failures included).",
    labelNames: ["command"],
    buckets: DATABASE_BUCKETS,
    registers: [registry],
  });
  const errors = new Counter({
    name: "db_command_errors_total",
    help: "Database commands that failed (network, timeout, or an error the server answered).",
    labelNames: ["command"],
    registers: [registry],
  });
  onDatabaseCommand((command) => {
    const name = DATABASE_COMMANDS.has(command.name) ? command.name : "other";
    duration.labels(name).observe(command.durationSeconds);
    if (command.failed) errors.labels(name).inc();
  });
  processMetrics = { registry };
  return processMetrics;
}

/** A counter whose label values are known up front: each shows 0 before it first moves. */
function counterOf<T extends string>(
  registry: Registry,
  config: Omit<CounterConfiguration<"label">, "labelNames" | "registers">,
  label: string,
  values: readonly T[],
): (value: T) => void {
  const counter = new Counter({ ...config, labelNames: [label], registers: [registry] });
  const children = new Map(values.map((value) => [value, counter.labels(value)]));
  return (value) => children.get(value)?.inc();
}

/** The root fields a client can ask for: the only operation names a label may take. */
function rootFieldNames(schema: GraphQLSchema): Set<string> {
  const names = new Set<string>();
  for (const type of [schema.getQueryType(), schema.getMutationType()]) {
    for (const name of Object.keys(type?.getFields() ?? {})) names.add(name);
  }
  return names;
}

/** The first field an operation selects at its root, looking through fragments. */
function firstRootField(
  selections: SelectionSetNode,
  document: DocumentNode,
  seen: Set<string> = new Set(),
): string | undefined {
  for (const selection of selections.selections) {
    if (selection.kind === Kind.FIELD) return selection.name.value;
    if (selection.kind === Kind.INLINE_FRAGMENT) {
      const name = firstRootField(selection.selectionSet, document, seen);
      if (name) return name;
      continue;
    }
    const fragmentName = selection.name.value;
    if (seen.has(fragmentName)) continue;
    seen.add(fragmentName);
    const fragment = document.definitions.find(
      (definition) =>
        definition.kind === Kind.FRAGMENT_DEFINITION && definition.name.value === fragmentName,
    );
    if (fragment?.kind !== Kind.FRAGMENT_DEFINITION) continue;
    const name = firstRootField(fragment.selectionSet, document, seen);
    if (name) return name;
  }
  return undefined;
}

export interface ServerMetrics {
  /** Counts and times each GraphQL request Apollo runs. */
  readonly plugin: ApolloServerPlugin<Context>;
  /** A /graphql request refused before any operation ran (CSRF, bad body, batching). */
  requestRefused(seconds: number): void;
  /** The scrape: the process's metrics and this server's, in Prometheus text format. */
  scrape(): Promise<{ contentType: string; body: string }>;
}

/**
 * One server instance's metrics, in a registry of its own: tests run several servers in one
 * process, and each must count only its own requests.
 */
export function createServerMetrics(deps: {
  schema: GraphQLSchema;
  events: SecurityEvents;
  passwords: PasswordHasher;
}): ServerMetrics {
  const shared = getProcessMetrics();
  const registry = new Registry();

  const knownFields = rootFieldNames(deps.schema);
  const operations = [...knownFields, INTROSPECTION, UNKNOWN];
  const requests = new Counter({
    name: "graphql_requests_total",
    help: "GraphQL requests by operation (the first root field) and result (ok, error).",
    labelNames: ["operation", "result"],
    registers: [registry],
  });
  const durations = new Histogram({
    name: "graphql_request_duration_seconds",
    help: "Time from Apollo receiving a GraphQL request to its answer, by operation.",
    labelNames: ["operation"],
    buckets: REQUEST_BUCKETS,
    registers: [registry],
  });
  // Children made once: looking labels up per request costs more than the counting itself.
  const perOperation = new Map(
    operations.map((operation) => [
      operation,
      {
        ok: requests.labels(operation, "ok"),
        error: requests.labels(operation, "error"),
        duration: durations.labels(operation),
      },
    ]),
  );
  const record = (operation: string, failed: boolean, seconds: number) => {
    const children = perOperation.get(operation) ?? perOperation.get(UNKNOWN)!;
    (failed ? children.error : children.ok).inc();
    children.duration.observe(seconds);
  };
  const operationLabel = (operation: OperationDefinitionNode, document: DocumentNode) => {
    const field = firstRootField(operation.selectionSet, document);
    if (field === undefined) return UNKNOWN;
    if (field.startsWith("__")) return INTROSPECTION;
    return knownFields.has(field) ? field : UNKNOWN;
  };

  const signins = counterOf(
    registry,
    {
      name: "auth_signins_total",
      help: "Password checks by outcome (signin and re-confirmation).",
    },
    "outcome",
    SIGNIN_OUTCOMES,
  );
  const refreshes = counterOf(
    registry,
    { name: "auth_refreshes_total", help: "Refresh token exchanges by outcome." },
    "outcome",
    REFRESH_OUTCOMES,
  );
  const lockouts = counterOf(
    registry,
    { name: "auth_lockouts_total", help: "Signin lockouts started, by what was locked." },
    "scope",
    LOCKOUT_SCOPES,
  );
  const securityEvents = counterOf(
    registry,
    { name: "auth_security_events_total", help: "Security events (the log's), by type." },
    "event",
    SECURITY_EVENT_TYPES,
  );
  // The same events the security log writes: one source for both, so they cannot disagree.
  deps.events.subscribe((event) => {
    securityEvents(event.type);
    switch (event.type) {
      case "signin_succeeded":
        return signins("success");
      case "signin_failed":
        return signins(SIGNIN_FAILURE_OUTCOME[event.reason]);
      case "signin_throttled":
        return signins("throttled");
      case "lockout_started":
        return lockouts(event.scope);
      case "refresh_rotated":
        return refreshes("rotated");
      case "refresh_failed":
        return refreshes(REFRESH_FAILURE_OUTCOME[event.reason]);
      default:
        return undefined;
    }
  });

  const { passwords } = deps;
  new Gauge({
    name: "password_hashing_queue_depth",
    help: "Password hashes and compares waiting for a hashing thread.",
    registers: [registry],
    collect() {
      this.set(passwords.waiting);
    },
  });
  const hashingWait = new Histogram({
    name: "password_hashing_wait_seconds",
    help: "Time a password hash or compare waited for a hashing thread.",
    labelNames: ["op"],
    buckets: HASHING_BUCKETS,
    registers: [registry],
  });
  const hashingWork = new Histogram({
    name: "password_hashing_duration_seconds",
    help: "Time a hashing thread spent on one password hash or compare.",
    labelNames: ["op"],
    buckets: HASHING_BUCKETS,
    registers: [registry],
  });
  passwords.observe((sample) => {
    hashingWait.labels(sample.op).observe(sample.waitSeconds);
    hashingWork.labels(sample.op).observe(sample.workSeconds);
  });

  return {
    plugin: {
      async requestDidStart() {
        const started = performance.now();
        let operation = UNKNOWN;
        return {
          async didResolveOperation({ operation: resolved, document }) {
            if (resolved) operation = operationLabel(resolved, document);
          },
          async willSendResponse({ response, errors }) {
            const failed =
              (errors?.length ?? 0) > 0 ||
              (response.body.kind === "single" &&
                (response.body.singleResult.errors?.length ?? 0) > 0);
            record(operation, failed, (performance.now() - started) / 1000);
          },
        };
      },
    },
    requestRefused: (seconds) => record(UNKNOWN, true, seconds),
    async scrape() {
      const [processText, serverText] = await Promise.all([
        shared.registry.metrics(),
        registry.metrics(),
      ]);
      return { contentType: registry.contentType, body: `${processText}\n${serverText}` };
    },
  };
}

export const METRICS_PATH = "/metrics";

/** GET /metrics on the API's own port (METRICS_PORT unset). */
export function serveMetrics(app: FastifyInstance, metrics: ServerMetrics): void {
  app.get(METRICS_PATH, async (_request, reply) => {
    const { contentType, body } = await metrics.scrape();
    return reply.header("cache-control", "no-store").type(contentType).send(body);
  });
}

/**
 * GET /metrics on a listener of its own (METRICS_PORT), for a port that only the monitoring
 * network reaches while the API's port faces the world. Nothing else is served there.
 */
export async function startMetricsListener(
  metrics: ServerMetrics,
  host: string,
  port: number,
): Promise<{ port: number; close(): Promise<void> }> {
  const server = http.createServer((request, response) => {
    const path = request.url?.split("?")[0];
    if (path !== METRICS_PATH || (request.method !== "GET" && request.method !== "HEAD")) {
      response.writeHead(404, { "content-type": "text/plain; charset=utf-8" }).end("Not found.\n");
      return;
    }
    metrics.scrape().then(
      ({ contentType, body }) =>
        response
          .writeHead(200, { "content-type": contentType, "cache-control": "no-store" })
          .end(request.method === "HEAD" ? undefined : body),
      () => response.writeHead(500).end(),
    );
  });
  // A scraper that opens a connection and sends nothing must not hold it forever.
  server.headersTimeout = 10_000;
  server.requestTimeout = 10_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
