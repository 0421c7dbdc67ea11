/** E11000: a unique index refused the write. */
export function isDuplicateKeyError(error: unknown): boolean {
  return (
    typeof error === "object" &&
    error !== null &&
    "code" in error &&
    (error as { code?: unknown }).code === 11000
  );
}

const UNAVAILABLE_ERROR_NAMES = new Set([
  "MongoServerSelectionError",
  "MongooseServerSelectionError",
  "MongoNetworkError",
  "MongoNetworkTimeoutError",
  "MongoNotConnectedError",
  "MongoTopologyClosedError",
  "MongoPoolClearedError",
  // timeoutMS ran out (see db/connection.ts): the database did not answer in time.
  "MongoOperationTimeoutError",
  // The managed signing keys are not loaded yet: they come from the database.
  "SigningKeysUnavailableError",
]);

/**
 * Socket errors the driver sometimes passes on as they are instead of as a MongoNetworkError:
 * e.g. EPIPE when it writes to a pooled connection the server half-closed while shutting down.
 * Resolvers do no other network I/O, so on a resolver's error these codes mean the database.
 */
const NETWORK_ERROR_CODES = new Set([
  "EPIPE",
  "ECONNRESET",
  "ECONNREFUSED",
  "ECONNABORTED",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTCONN",
]);

/**
 * Server error codes for "this server is going away or can't serve now" (shutdown, stepdown,
 * host unreachable, MaxTimeMSExpired past our timeoutMS), as opposed to an error in the command.
 */
const UNAVAILABLE_SERVER_CODES = new Set([
  6, 7, 50, 89, 91, 189, 10107, 11600, 11602, 13435, 13436,
]);

/** True when the error means "the database can't be reached now", not "the query was wrong". */
export function isDatabaseUnavailableError(error: unknown): boolean {
  return isUnavailable(error, 0);
}

function isUnavailable(error: unknown, depth: number): boolean {
  if (typeof error !== "object" || error === null || depth > 5) return false;
  const { name, message, code, cause, thrownValue, errorResponse } = error as {
    name?: unknown;
    message?: unknown;
    code?: unknown;
    cause?: unknown;
    thrownValue?: unknown;
    errorResponse?: unknown;
  };
  if (typeof name === "string" && UNAVAILABLE_ERROR_NAMES.has(name)) return true;
  if (typeof code === "string" && NETWORK_ERROR_CODES.has(code)) return true;
  if (typeof code === "number" && UNAVAILABLE_SERVER_CODES.has(code)) return true;
  // mongoose's own wording when a command is issued with no live connection.
  if (
    typeof message === "string" &&
    /buffering timed out|Client must be connected|before initial connection is complete|connection .* closed/i.test(
      message,
    )
  ) {
    return true;
  }
  // FerretDB shutting down cancels the commands it is still running: InternalError (1).
  if (code === 1 && typeof message === "string" && /context canceled/i.test(message)) return true;
  // Wrappers keep what they wrap: MongoBulkWriteError a network error of an insertMany as
  // errorResponse; graphql-js a thrown value that is not `instanceof Error` (one from another
  // realm, as node's own errors are under jest) as NonErrorThrown's thrownValue; others as cause.
  return [errorResponse, thrownValue, cause].some((inner) => isUnavailable(inner, depth + 1));
}
