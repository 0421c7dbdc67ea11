import fastifyCompress from "@fastify/compress";
import type { FastifyInstance, FastifyRequest } from "fastify";

/*
 * How /graphql reads request bodies. Only JSON is parsed; every other content type is left
 * unread so that Apollo's CSRF prevention, not a body parser, answers the requests a form or
 * a script tag on another site can make.
 */

/** A body that is not a JSON object or array; answered as a JSON BAD_REQUEST. */
export const BODY_NOT_JSON = "BODY_NOT_JSON";

export class RequestBodyError extends Error {
  constructor(
    readonly statusCode: 400 | 415,
    readonly code: string,
  ) {
    super(code);
    this.name = "RequestBodyError";
  }
}

/** JSON text begins with an object or an array here: a bare string or number is no request. */
const OBJECT_OR_ARRAY = /^[ \t\n\r]*[{[]/;
const CHARSET = /;\s*charset\s*=\s*"?([^";\s]*)/i;

function charsetOf(request: FastifyRequest): string | undefined {
  const contentType = request.headers["content-type"];
  return contentType?.includes("charset")
    ? CHARSET.exec(contentType)?.[1]?.toLowerCase()
    : undefined;
}

/**
 * JSON.parse, not a "secure" parser that refuses `__proto__` keys: the parsed object only
 * ever reaches Apollo, which reads known fields from it, and graphql-js names such keys in a
 * BAD_USER_INPUT error when they appear in variables.
 */
function parseJson(request: FastifyRequest, body: string): unknown {
  const charset = charsetOf(request);
  // RFC 8259: JSON between systems is UTF-8.
  if (charset !== undefined && charset !== "utf-8" && charset !== "utf8") {
    throw new RequestBodyError(415, "UNSUPPORTED_CHARSET");
  }
  // An empty body is no error of the parser's: Apollo says what the request is missing.
  if (body.length === 0) return {};
  if (!OBJECT_OR_ARRAY.test(body)) throw new RequestBodyError(400, BODY_NOT_JSON);
  try {
    return JSON.parse(body) as unknown;
  } catch {
    throw new RequestBodyError(400, BODY_NOT_JSON);
  }
}

/**
 * Any route's body is left unread unless the route asks for one: an unknown route answers
 * 404 without reading what was sent. Call on the root instance.
 */
export function ignoreRequestBodies(app: FastifyInstance): void {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser("*", (_request, _payload, done) => done(null, undefined));
}

/**
 * JSON bodies for the GraphQL routes of `scope`, up to the instance's bodyLimit, counted after
 * decompression (gzip, deflate and br bodies are accepted, as HTTP allows).
 */
export async function parseGraphqlBodies(scope: FastifyInstance): Promise<void> {
  await scope.register(fastifyCompress, {
    // Requests only. Compressing responses that carry tokens next to text an attacker
    // chooses would open them to BREACH-style guessing.
    globalCompression: false,
    globalDecompression: true,
    requestEncodings: ["br", "gzip", "deflate", "identity"],
  });
  scope.addContentTypeParser("application/json", { parseAs: "string" }, (request, body, done) => {
    try {
      done(null, parseJson(request, body as string));
    } catch (error) {
      done(error as Error, undefined);
    }
  });
}
