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
]);

/** True when the error means "the database can't be reached now", not "the query was wrong". */
export function isDatabaseUnavailableError(error: unknown): boolean {
  if (typeof error !== "object" || error === null) return false;
  const name = (error as { name?: unknown }).name;
  if (typeof name === "string" && UNAVAILABLE_ERROR_NAMES.has(name)) return true;
  const message = (error as { message?: unknown }).message;
  // mongoose's own wording when a command is issued with no live connection.
  return (
    typeof message === "string" &&
    /buffering timed out|Client must be connected|before initial connection is complete|connection .* closed/i.test(
      message,
    )
  );
}
