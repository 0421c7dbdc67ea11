import { GraphQLError } from "graphql";

/**
 * Every error a client can see is built here, so codes and reasons stay one vocabulary.
 * Clients branch on `extensions.code` and `extensions.reason`, never on the message.
 */
export type TokenErrorReason = "TOKEN_EXPIRED" | "TOKEN_INVALID";

export type AuthErrorReason =
  | TokenErrorReason
  | "INVALID_CREDENTIALS"
  | "REFRESH_TOKEN_INVALID"
  | "REFRESH_TOKEN_EXPIRED"
  | "REFRESH_TOKEN_REUSED"
  | "TOO_MANY_ATTEMPTS";

export type InputErrorReason = "USERNAME_TAKEN" | "EMAIL_TAKEN" | "CANNOT_REMOVE_OWN_ADMIN";

const authMessages: Record<AuthErrorReason | "NONE", string> = {
  NONE: "You must be signed in to do this.",
  TOKEN_EXPIRED: "Your access token has expired. Refresh it and try again.",
  TOKEN_INVALID: "Your access token is not valid. Sign in again.",
  INVALID_CREDENTIALS: "Invalid username or password.",
  REFRESH_TOKEN_INVALID: "This refresh token is not valid. Sign in again.",
  REFRESH_TOKEN_EXPIRED: "This refresh token has expired. Sign in again.",
  REFRESH_TOKEN_REUSED:
    "This refresh token was already used. The session has been ended for safety; sign in again.",
  TOO_MANY_ATTEMPTS: "Too many failed signin attempts. Wait and try again.",
};

export function unauthenticated(reason?: AuthErrorReason): GraphQLError {
  return new GraphQLError(authMessages[reason ?? "NONE"], {
    extensions: reason ? { code: "UNAUTHENTICATED", reason } : { code: "UNAUTHENTICATED" },
  });
}

/** The signin throttle refused the attempt without checking the password. */
export function tooManyAttempts(retryAfterSeconds: number): GraphQLError {
  return new GraphQLError(
    `Too many failed signin attempts. Try again in ${retryAfterSeconds} seconds.`,
    {
      extensions: {
        code: "UNAUTHENTICATED",
        reason: "TOO_MANY_ATTEMPTS",
        retryAfter: retryAfterSeconds,
      },
    },
  );
}

export function forbidden(message = "You do not have permission to do this."): GraphQLError {
  return new GraphQLError(message, { extensions: { code: "FORBIDDEN" } });
}

export function badInput(field: string, message: string, reason?: InputErrorReason): GraphQLError {
  return new GraphQLError(message, {
    extensions: reason
      ? { code: "BAD_USER_INPUT", field, reason }
      : { code: "BAD_USER_INPUT", field },
  });
}

export function notFound(message: string): GraphQLError {
  return new GraphQLError(message, { extensions: { code: "NOT_FOUND" } });
}

export function serviceUnavailable(): GraphQLError {
  return new GraphQLError("The service is temporarily unavailable. Try again shortly.", {
    extensions: { code: "SERVICE_UNAVAILABLE" },
  });
}

export function internalError(requestId: string | undefined): GraphQLError {
  return new GraphQLError("Internal server error.", {
    extensions: requestId
      ? { code: "INTERNAL_SERVER_ERROR", requestId }
      : { code: "INTERNAL_SERVER_ERROR" },
  });
}
