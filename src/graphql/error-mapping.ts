import { GraphQLError, type GraphQLFormattedError } from "graphql";
import {
  AuthenticationError,
  DomainError,
  InputError,
  NotFoundError,
  PermissionError,
  RateLimitError,
  type AuthErrorReason,
} from "../errors";

/**
 * The one place where the services' domain errors become what a GraphQL client reads: the
 * `extensions.code` (Apollo's vocabulary), our `extensions.reason`, and a message a person can
 * act on. Nothing else in src/ builds client-facing errors.
 */

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
  EMAIL_TOKEN_INVALID: "This link is not valid or was already used. Request a new one.",
  EMAIL_TOKEN_EXPIRED: "This link has expired. Request a new one.",
  EMAIL_NOT_VERIFIED:
    "Verify your email address before signing in. We can send you a new verification email.",
  ACCOUNT_DISABLED: "This account is disabled. Contact an administrator.",
  SESSION_REVOKED: "This session has ended. Sign in again.",
};

function authenticationError(error: AuthenticationError): GraphQLError {
  const { reason, retryAfterSeconds } = error;
  if (reason === "TOO_MANY_ATTEMPTS" && retryAfterSeconds !== undefined) {
    return new GraphQLError(
      `Too many failed signin attempts. Try again in ${retryAfterSeconds} seconds.`,
      { extensions: { code: "UNAUTHENTICATED", reason, retryAfter: retryAfterSeconds } },
    );
  }
  return new GraphQLError(authMessages[reason ?? "NONE"], {
    extensions: reason ? { code: "UNAUTHENTICATED", reason } : { code: "UNAUTHENTICATED" },
  });
}

/** The GraphQL error a client sees for a domain error. */
export function toGraphQLError(error: DomainError): GraphQLError {
  if (error instanceof AuthenticationError) return authenticationError(error);
  if (error instanceof PermissionError) {
    return new GraphQLError(error.message, {
      extensions: error.reason
        ? { code: "FORBIDDEN", reason: error.reason }
        : { code: "FORBIDDEN" },
    });
  }
  if (error instanceof InputError) {
    const extensions: Record<string, unknown> = { code: "BAD_USER_INPUT", field: error.field };
    if (error.reason) extensions.reason = error.reason;
    return new GraphQLError(error.message, { extensions });
  }
  if (error instanceof NotFoundError) {
    return new GraphQLError(error.message, { extensions: { code: "NOT_FOUND" } });
  }
  if (error instanceof RateLimitError) {
    return new GraphQLError(error.message, {
      extensions: {
        code: "TOO_MANY_REQUESTS",
        reason: "TOO_MANY_REQUESTS",
        retryAfter: error.retryAfterSeconds,
      },
    });
  }
  return new GraphQLError("Internal server error.", {
    extensions: { code: "INTERNAL_SERVER_ERROR" },
  });
}

/** A domain error formatted at `path`, as formatError returns it. */
export function formatDomainError(
  error: DomainError,
  formatted: GraphQLFormattedError,
): GraphQLFormattedError {
  const mapped = toGraphQLError(error);
  return {
    message: mapped.message,
    ...(formatted.locations ? { locations: formatted.locations } : {}),
    ...(formatted.path ? { path: formatted.path } : {}),
    extensions: mapped.extensions,
  };
}

export function isDomainError(error: unknown): error is DomainError {
  return error instanceof DomainError;
}
