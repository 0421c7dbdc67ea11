/**
 * The errors services throw: a reason code and the facts, nothing about GraphQL. One module,
 * src/graphql/error-mapping.ts, turns them into what a client reads (extensions.code, reason,
 * message). Clients branch on code and reason, never on the message.
 */

export type TokenErrorReason = "TOKEN_EXPIRED" | "TOKEN_INVALID";

export type AuthErrorReason =
  | TokenErrorReason
  | "INVALID_CREDENTIALS"
  | "REFRESH_TOKEN_INVALID"
  | "REFRESH_TOKEN_EXPIRED"
  | "REFRESH_TOKEN_REUSED"
  | "TOO_MANY_ATTEMPTS"
  | "EMAIL_TOKEN_INVALID"
  | "EMAIL_TOKEN_EXPIRED"
  | "EMAIL_NOT_VERIFIED"
  | "ACCOUNT_DISABLED"
  | "SESSION_REVOKED";

export type InputErrorReason =
  | "USERNAME_TAKEN"
  | "EMAIL_TAKEN"
  | "CANNOT_REMOVE_OWN_ADMIN"
  | "CANNOT_DISABLE_SELF"
  | "LAST_ADMIN"
  | "PASSWORD_TOO_COMMON"
  | "ALREADY_VERIFIED";

export abstract class DomainError extends Error {
  constructor(message?: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** The caller is not (or no longer) who they claim: UNAUTHENTICATED. */
export class AuthenticationError extends DomainError {
  constructor(
    readonly reason?: AuthErrorReason,
    /** Seconds until a throttled attempt may be made again (TOO_MANY_ATTEMPTS). */
    readonly retryAfterSeconds?: number,
  ) {
    super(reason ?? "UNAUTHENTICATED");
  }
}

export type PermissionErrorReason = "EMAIL_DISABLED";

/** Signed in, but not allowed to do this (or nobody is, on this server): FORBIDDEN. */
export class PermissionError extends DomainError {
  constructor(
    message = "You do not have permission to do this.",
    readonly reason?: PermissionErrorReason,
  ) {
    super(message);
  }
}

/** An argument is wrong; `field` names it and the message says how to fix it: BAD_USER_INPUT. */
export class InputError extends DomainError {
  constructor(
    readonly field: string,
    message: string,
    readonly reason?: InputErrorReason,
  ) {
    super(message);
  }
}

export class NotFoundError extends DomainError {}

/** Too many requests of this kind from this address or for this account: TOO_MANY_REQUESTS. */
export class RateLimitError extends DomainError {
  constructor(readonly retryAfterSeconds: number) {
    super(`Too many requests. Try again in ${retryAfterSeconds} seconds.`);
  }
}
