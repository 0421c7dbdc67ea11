import type { ApolloServerPlugin } from "@apollo/server";
import { unwrapResolverError } from "@apollo/server/errors";
import { STATUS_CODES, type IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import type { FastifyError, FastifyReply, FastifyRequest } from "fastify";
import { GraphQLError, type GraphQLFormattedError } from "graphql";
import type { Context } from "../context";
import { isDatabaseUnavailableError } from "../db/mongo-errors";
import { formatDomainError, isDomainError } from "./error-mapping";
import type { Logger } from "../logger";
import { BODY_NOT_JSON } from "./request-body";

/*
 * What a client may read of an error, and what only the log may: the masking, the request id
 * that links the two, and JSON answers for requests refused before Apollo sees them.
 */

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
  const cause = rootCause(error);
  return !(cause instanceof GraphQLError) && !isDomainError(cause);
}

const SERVICE_UNAVAILABLE = {
  message: "The service is temporarily unavailable. Try again shortly.",
  extensions: { code: "SERVICE_UNAVAILABLE" },
} as const;

/** The end graphql-js gives some messages: "Did you mean "adminContent"?", a schema name. */
const SUGGESTION = / ?Did you mean(.+?)\?$/;

/**
 * Only our own GraphQLErrors and graphql-js's parse/validation errors reach clients as-is.
 * With `hideSchemaDetails` (where introspection is off), suggestions are cut from every
 * message: Apollo's hideSchemaDetailsFromClientErrors cuts them from validation errors only,
 * and graphql-js suggests input field and enum names when it coerces variables too.
 */
export function formatError(options: { hideSchemaDetails?: boolean } = {}) {
  const format = maskUnexpected();
  if (!options.hideSchemaDetails) return format;
  return (formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError => {
    const result = format(formatted, error);
    return SUGGESTION.test(result.message)
      ? { ...result, message: result.message.replace(SUGGESTION, "") }
      : result;
  };
}

function maskUnexpected() {
  return (formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError => {
    const cause = rootCause(error);
    if (isDomainError(cause)) return formatDomainError(cause, formatted);
    if (isDatabaseUnavailableError(cause)) {
      return { ...SERVICE_UNAVAILABLE, path: formatted.path };
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
export function errorLoggingPlugin(logger: Logger): ApolloServerPlugin<Context> {
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
export const requestIdPlugin: ApolloServerPlugin<Context> = {
  async requestDidStart() {
    return {
      async willSendResponse({ contextValue, response }) {
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

/** The JSON error body every answer outside GraphQL execution has: 404s, bad bodies, faults. */
export function errorBody(message: string, code: string): string {
  return JSON.stringify({ errors: [{ message, extensions: { code } }] });
}

function statusOf(error: FastifyError): number {
  const status = error.statusCode;
  if (typeof status === "number" && status >= 400 && status < 500) return status;
  // @as-integrations/fastify reads the query string through a URL built on the Host header:
  // a Host that makes no URL (or none, from an HTTP/1.0 client) is the request's fault.
  if (error.code === "ERR_INVALID_URL") return 400;
  return 500;
}

/** How much of a refused body is read and thrown away before answering, at most. */
const DISCARD_MAX_BYTES = 4 * 1024 * 1024;
const DISCARD_MAX_MS = 1000;

/**
 * Reads and drops the rest of a body refused as too large (bounded in bytes and time), so that
 * the client has sent it when the 413 goes out and the connection closes. A socket closed with
 * unread data in it is reset by the kernel, and the client sees ECONNRESET instead of our answer
 * (nginx's "lingering close" does the same).
 */
function discardRest(body: IncomingMessage, maxBytes: number, maxMs: number): Promise<void> {
  return new Promise((resolve) => {
    let seen = 0;
    const finish = () => {
      clearTimeout(timer);
      body.off("data", count).off("end", finish).off("error", finish).off("close", finish);
      resolve();
    };
    const count = (chunk: Buffer) => {
      seen += chunk.length;
      if (seen > maxBytes) finish();
    };
    const timer = setTimeout(finish, maxMs);
    body.on("data", count).once("end", finish).once("error", finish).once("close", finish);
    body.resume();
  });
}

/**
 * Errors fastify raises outside Apollo (bodies too large or not JSON, bad encodings, ...)
 * answered as GraphQL clients expect: JSON, a BAD_REQUEST code, never a stack trace.
 */
export const jsonErrorHandler =
  (bodyLimitBytes: number, logger: Logger) =>
  async (
    error: FastifyError,
    request: FastifyRequest,
    reply: FastifyReply,
  ): Promise<FastifyReply> => {
    const status = statusOf(error);
    if (error.code === "FST_ERR_CTP_BODY_TOO_LARGE" && !request.raw.complete) {
      await discardRest(request.raw, DISCARD_MAX_BYTES, DISCARD_MAX_MS);
      reply.header("connection", "close");
    }
    const message =
      error.code === "FST_ERR_CTP_BODY_TOO_LARGE"
        ? `Request body is larger than ${bodyLimitBytes} bytes.`
        : error.code === BODY_NOT_JSON
          ? "Request body is not valid JSON."
          : status < 500
            ? "Bad request."
            : "Internal server error.";
    if (status >= 500) logger.error({ err: error }, "unexpected error outside GraphQL");
    return reply
      .code(status)
      .type("application/json; charset=utf-8")
      .send(errorBody(message, status < 500 ? "BAD_REQUEST" : "INTERNAL_SERVER_ERROR"));
  };

/**
 * Answers requests node could not read at all (malformed HTTP, headers too large, a client too
 * slow to send its request within HTTP_HEADERS_TIMEOUT or HTTP_REQUEST_TIMEOUT) in the same
 * JSON shape and with the same security headers as every other answer, then closes.
 */
export function clientErrorHandler(securityHeaders: Readonly<Record<string, string>>) {
  const headerLines = Object.entries(securityHeaders)
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join("");
  return (error: NodeJS.ErrnoException, socket: Duplex): void => {
    // A reset connection has nobody left to answer.
    if (error.code === "ECONNRESET" || socket.destroyed) return;
    const [status, message] =
      error.code === "ERR_HTTP_REQUEST_TIMEOUT"
        ? [408, "The request took too long to arrive."]
        : error.code === "HPE_HEADER_OVERFLOW"
          ? [431, "Request headers are too large."]
          : [400, "Bad request."];
    const body = errorBody(message, "BAD_REQUEST");
    if (socket.writable) {
      socket.write(
        `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\n${headerLines}` +
          `content-type: application/json; charset=utf-8\r\n` +
          `content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
      );
    }
    socket.destroy();
  };
}
