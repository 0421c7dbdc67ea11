import type { Types } from "mongoose";
import type { Caller } from "../auth/caller";
import { MAX_PASSWORD_BYTES, type PasswordHasher } from "../auth/passwords";
import type { Clock } from "../clock";
import type { UserRecord } from "../entities/user.entity";
import { AuthenticationError, InputError, PermissionError } from "../errors";
import type { Logger } from "../logger";
import type { Outbox, QueuedMail } from "../mail/outbox";
import {
  assertValidEmail,
  assertValidPassword,
  hasControlCharacters,
  MIN_PASSWORD_LENGTH,
  normalizeEmail,
} from "./account-rules";
import { throttleKeyOf, type AuthResult, type AuthService } from "./auth.service";
import type { EmailTokens } from "./email-tokens";
import { hashedKey, type RateLimit, type RateLimiter } from "./rate-limiter";
import type { SecurityEvents } from "./security-events";
import type { ClientInfo, SessionStore } from "./sessions";
import type { SigninThrottle } from "./signin-throttle";
import { toObjectId, withoutPasswordHash, type UserState, type UserStore } from "./user-store";

const HOUR = 3_600;
/** Mail a signed-out client can have sent to one address: a person retries, a script floods. */
export const MAIL_PER_ADDRESS: RateLimit = { limit: 3, windowSeconds: HOUR };
/** Mail requests from one client address, whatever the addresses asked for. */
export const MAIL_PER_CLIENT: RateLimit = { limit: 30, windowSeconds: HOUR };
/** Verification mail a signed-in user can ask for. */
export const VERIFICATION_PER_ACCOUNT: RateLimit = { limit: 3, windowSeconds: HOUR };

const emailDisabled = () =>
  new PermissionError(
    "Email is turned off on this server (EMAIL_ENABLED=false). Ask an administrator.",
    "EMAIL_DISABLED",
  );

/** The new password's rules are signup's; the error names the argument the client sent. */
function assertValidNewPassword(password: string, user: UserState): void {
  try {
    assertValidPassword(password, [user.username, user.email.split("@")[0] ?? ""]);
  } catch (error) {
    if (error instanceof InputError && error.field === "password") {
      throw new InputError("newPassword", error.message, error.reason);
    }
    throw error;
  }
}

/** A password no account can have (see AuthService.signin): compared with the dummy hash. */
function isPlausiblePassword(password: string): boolean {
  return (
    [...password].length >= MIN_PASSWORD_LENGTH &&
    Buffer.byteLength(password, "utf8") <= MAX_PASSWORD_BYTES &&
    !hasControlCharacters(password)
  );
}

function parseAddress(email: string): string {
  assertValidEmail(email);
  return normalizeEmail(email);
}

/**
 * Proving an email address, and getting back into an account: verifyEmail, the requests for
 * verification and reset mail, resetPassword and changePassword.
 *
 * Requests from signed-out clients never look an address up. They do the same work for every
 * address (two rate-limit records and one insert into the outbox) and answer `true`; the mail
 * sender finds the account later, in the background (src/mail/mail-composer.ts). Neither the
 * answer, its timing, nor the database work of the request tells whether an account exists.
 */
export class AccountRecovery {
  constructor(
    private readonly deps: {
      readonly clock: Clock;
      /** EMAIL_ENABLED */
      readonly emailEnabled: boolean;
      readonly users: UserStore;
      readonly sessions: SessionStore;
      readonly throttle: SigninThrottle;
      readonly passwords: PasswordHasher;
      readonly auth: AuthService;
      readonly outbox: Outbox;
      readonly tokens: EmailTokens;
      readonly limiter: RateLimiter;
      readonly events: SecurityEvents;
      readonly logger: Logger;
    },
  ) {}

  /**
   * Signup's verification mail, queued once the account is active. The account stands if the
   * queue cannot be written (the owner can ask for another mail): the failure is logged.
   */
  async queueSignupVerification(userId: Types.ObjectId): Promise<void> {
    if (!this.deps.emailEnabled) return;
    await this.queueQuietly({ kind: "verify-email", userId });
  }

  /** Spends a verification token and marks the address it was sent to as verified. */
  async verifyEmail(token: string): Promise<UserRecord> {
    this.assertEmailEnabled();
    const { tokens, users, clock, events } = this.deps;
    const issued = await tokens.check("verify-email", token);
    if (!(await tokens.spend(issued))) throw new AuthenticationError("EMAIL_TOKEN_INVALID");
    const now = new Date(clock.nowMs());
    const verified = await users.update(issued.userId, (state) => {
      // The token proves the address it was sent to, not one the account has since.
      if (!state || state.status !== "active" || state.email !== issued.email) {
        return { result: undefined };
      }
      if (state.emailVerifiedAt) return { result: state };
      const next = { ...state, emailVerifiedAt: now };
      return { next, result: next };
    });
    if (!verified) throw new AuthenticationError("EMAIL_TOKEN_INVALID");
    events.emit({ type: "email_verified", userId: issued.userId.toHexString() });
    return withoutPasswordHash(verified);
  }

  /** A new verification mail for the signed-in user. */
  async resendVerificationEmail(caller: Caller): Promise<boolean> {
    this.assertEmailEnabled();
    const { userId } = signedIn(caller);
    const user = await this.deps.users.findById(userId);
    if (!user || user.status !== "active") throw new AuthenticationError();
    if (user.emailVerifiedAt) {
      throw new InputError("email", "Your email address is already verified.", "ALREADY_VERIFIED");
    }
    await this.deps.limiter.hit(`verify-account:${userId.toHexString()}`, VERIFICATION_PER_ACCOUNT);
    await this.deps.outbox.queue({ kind: "verify-email", userId });
    return true;
  }

  /**
   * A new verification mail for whoever has this address, for a signed-out client (signin
   * answered EMAIL_NOT_VERIFIED). `true` whether or not an account has it.
   */
  async requestVerificationEmail(email: string, client: ClientInfo): Promise<boolean> {
    await this.anonymousMailRequest("verify-email", email, client);
    return true;
  }

  /** A reset mail for whoever has this address. `true` whether or not an account has it. */
  async requestPasswordReset(email: string, client: ClientInfo): Promise<boolean> {
    await this.anonymousMailRequest("password-reset", email, client);
    this.deps.events.emit({ type: "password_reset_requested", clientIp: client.ip });
    return true;
  }

  /**
   * Spends a reset token and sets the new password: every session of the account ends, its
   * signin lockouts are lifted, the address counts as verified (the mail reached it), and the
   * owner is told by mail. Of concurrent resets with one token exactly one succeeds.
   */
  async resetPassword(token: string, newPassword: string): Promise<boolean> {
    this.assertEmailEnabled();
    const { tokens, users, passwords, clock } = this.deps;
    const issued = await tokens.check("password-reset", token);
    const user = await users.readLatest(issued.userId);
    if (!user || user.status !== "active") throw new AuthenticationError("EMAIL_TOKEN_INVALID");
    if (user.disabledAt) throw new AuthenticationError("ACCOUNT_DISABLED");
    // Checked before the token is spent: a password refused by the rules keeps the link usable.
    assertValidNewPassword(newPassword, user);
    const passwordHash = await passwords.hash(newPassword);
    if (!(await tokens.spend(issued))) throw new AuthenticationError("EMAIL_TOKEN_INVALID");

    const now = new Date(clock.nowMs());
    const outcome = await users.update(issued.userId, (state) => {
      if (!state || state.status !== "active") return { result: undefined };
      const verifiesNow = !state.emailVerifiedAt && state.email === issued.email;
      const next = {
        ...state,
        passwordHash,
        passwordChangedAt: now,
        emailVerifiedAt: verifiesNow ? now : (state.emailVerifiedAt ?? null),
      };
      return { next, result: { verifiesNow } };
    });
    if (!outcome) throw new AuthenticationError("EMAIL_TOKEN_INVALID");
    if (outcome.verifiesNow) {
      this.deps.events.emit({ type: "email_verified", userId: issued.userId.toHexString() });
    }
    await this.passwordChanged(issued.userId, "reset");
    return true;
  }

  /**
   * Changes the signed-in user's password. The current one is checked under the signin
   * throttle (a wrong one counts as a failed signin). Every session of the account ends, the
   * caller's too, and the caller gets the first pair of a new session: no refresh token issued
   * before the change works after it.
   */
  async changePassword(
    caller: Caller,
    currentPassword: string,
    newPassword: string,
    client: ClientInfo,
  ): Promise<AuthResult> {
    const { userId, sessionId } = signedIn(caller);
    const { users, sessions, throttle, passwords, auth, events, clock } = this.deps;
    // An access token outlives its session by up to its TTL; one of an ended session (a reset
    // elsewhere, "sign out everywhere") must not change the password.
    const session = sessionId ? await sessions.findById(sessionId) : null;
    if (!sessions.isLive(session) || !session.userId.equals(userId)) {
      throw new AuthenticationError("SESSION_REVOKED");
    }
    const user = await users.readLatest(userId);
    if (!user || user.status !== "active") throw new AuthenticationError();
    if (user.disabledAt) throw new AuthenticationError("ACCOUNT_DISABLED");
    assertValidNewPassword(newPassword, user);

    const id = userId.toHexString();
    const decision = await throttle.begin(throttleKeyOf(userId), client.ip);
    if (!decision.allowed) {
      events.emit({
        type: "signin_throttled",
        scope: decision.scope,
        retryAfterSeconds: decision.retryAfterSeconds,
        userId: id,
        clientIp: client.ip,
      });
      throw new AuthenticationError("TOO_MANY_ATTEMPTS", decision.retryAfterSeconds);
    }
    const correct = isPlausiblePassword(currentPassword)
      ? await passwords.compare(currentPassword, user.passwordHash)
      : await passwords.compareWithDummy("");
    if (!correct) {
      events.emit({
        type: "signin_failed",
        reason: "INVALID_CREDENTIALS",
        userId: id,
        clientIp: client.ip,
      });
      if (decision.ticket.locksIfFailed) {
        events.emit({
          type: "lockout_started",
          scope: decision.ticket.locksIfFailed,
          userId: id,
          clientIp: client.ip,
        });
      }
      throw new AuthenticationError("INVALID_CREDENTIALS");
    }
    await throttle.succeeded(decision.ticket);
    if (newPassword === currentPassword) {
      throw new InputError("newPassword", "Choose a password other than your current one.");
    }

    const passwordHash = await passwords.hash(newPassword);
    const now = new Date(clock.nowMs());
    const changed = await users.update(userId, (state) =>
      // Only over the password just checked: of two changes at once, one wins.
      state?.status === "active" && state.passwordHash === user.passwordHash
        ? { next: { ...state, passwordHash, passwordChangedAt: now }, result: state }
        : { result: undefined },
    );
    if (!changed) throw new AuthenticationError("INVALID_CREDENTIALS");
    const result = await auth.startSession({ ...changed, passwordHash }, client);
    await this.passwordChanged(userId, "change", result.sessionId);
    return result;
  }

  /** What follows any new password: sessions end, lockouts lift, the owner is told. */
  private async passwordChanged(
    userId: Types.ObjectId,
    how: "change" | "reset",
    keepSessionId?: string,
  ): Promise<void> {
    const { sessions, throttle, tokens, events } = this.deps;
    const reason = how === "reset" ? "PASSWORD_RESET" : "PASSWORD_CHANGED";
    const count = await sessions.endAll(userId, reason, keepSessionId);
    const id = userId.toHexString();
    events.emit({ type: "sessions_ended", userId: id, count, reason, by: null });
    if (how === "reset") {
      // Whoever guessed at the password before, the owner now holds a new one.
      await throttle.clearAccount(throttleKeyOf(userId));
    } else {
      // A reset link mailed before the change must not undo it.
      await tokens.revoke("password-reset", userId);
    }
    events.emit({ type: "password_changed", userId: id, how });
    if (this.deps.emailEnabled) await this.queueQuietly({ kind: "password-changed", userId, how });
  }

  /**
   * The same work for every address: the client's limit, the address's limit, one insert. The
   * address's limit is counted by its hash, whether or not an account has it.
   */
  private async anonymousMailRequest(
    kind: "verify-email" | "password-reset",
    email: string,
    client: ClientInfo,
  ): Promise<void> {
    this.assertEmailEnabled();
    const address = parseAddress(email);
    const { limiter, outbox } = this.deps;
    await limiter.hit(`mail-client:${client.ip}`, MAIL_PER_CLIENT);
    await limiter.hit(hashedKey(`mail-address:${kind}`, address), MAIL_PER_ADDRESS);
    await outbox.queue({ kind, email: address });
  }

  private async queueQuietly(mail: QueuedMail): Promise<void> {
    try {
      await this.deps.outbox.queue(mail);
    } catch (error) {
      this.deps.logger.error(
        { err: error, kind: mail.kind },
        "could not queue a mail; the change it reports was made",
      );
    }
  }

  private assertEmailEnabled(): void {
    if (!this.deps.emailEnabled) throw emailDisabled();
  }
}

/** The caller's account and session, from the access token alone. */
function signedIn(caller: Caller): {
  userId: Types.ObjectId;
  sessionId: Types.ObjectId | undefined;
} {
  if (caller.kind === "invalid-token") throw new AuthenticationError(caller.reason);
  const userId = caller.kind === "authenticated" ? toObjectId(caller.claims.userId) : undefined;
  if (!userId || caller.kind !== "authenticated") throw new AuthenticationError();
  return { userId, sessionId: toObjectId(caller.claims.sessionId) };
}
