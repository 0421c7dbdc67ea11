import type { Types } from "mongoose";
import type { AccessTokens } from "../auth/access-tokens";
import { MAX_PASSWORD_BYTES, type PasswordHasher } from "../auth/passwords";
import type { Clock } from "../clock";
import { userActivityCollection } from "../entities/user-activity.entity";
import type { UserRecord } from "../entities/user.entity";
import { AuthenticationError } from "../errors";
import {
  hasControlCharacters,
  MIN_PASSWORD_LENGTH,
  normalizeEmail,
  usernameKey,
} from "./account-rules";
import type { AccountNames, NameKind } from "./account-names";
import type { RefreshTokens } from "./refresh-tokens";
import type { SecurityEvents } from "./security-events";
import type { ClientInfo, SessionStore } from "./sessions";
import type { AttemptTicket, SigninThrottle } from "./signin-throttle";
import { withoutPasswordHash, type UserState, type UserStore } from "./user-store";

export interface AuthResult {
  user: UserRecord;
  sessionId: string;
  accessToken: string;
  accessTokenExpiresAt: Date;
  refreshToken: string;
  refreshTokenExpiresAt: Date;
}

export interface SigninPolicy {
  readonly requireEmailVerification: boolean;
}

const MAX_IDENTIFIER_LENGTH = 254;

/** Usernames cannot contain "@", so an identifier with one can only be an email. */
function parseIdentifier(identifier: string): { kind: NameKind; name: string } | undefined {
  const trimmed = identifier.trim();
  if (trimmed.length === 0 || trimmed.length > MAX_IDENTIFIER_LENGTH) return undefined;
  return trimmed.includes("@")
    ? { kind: "email", name: normalizeEmail(trimmed) }
    : { kind: "username", name: usernameKey(trimmed) };
}

/** The throttle's key for an account: its id, or the name tried when no account has it. */
export function throttleKeyOf(userId: Types.ObjectId): string {
  return `user:${userId.toHexString()}`;
}

/**
 * Signing in and keeping a session: signin (under the brute-force throttle), refresh,
 * signout. The refresh-token rules themselves live in refresh-tokens.ts.
 */
export class AuthService {
  constructor(
    private readonly deps: {
      readonly clock: Clock;
      readonly passwords: PasswordHasher;
      readonly accessTokens: AccessTokens;
      readonly users: UserStore;
      readonly names: AccountNames;
      readonly sessions: SessionStore;
      readonly refreshTokens: RefreshTokens;
      readonly throttle: SigninThrottle;
      readonly events: SecurityEvents;
      readonly policy: SigninPolicy;
    },
  ) {}

  /**
   * Unknown account and wrong password give the same error after the same bcrypt work, so
   * neither the message nor the timing tells which names exist. The throttle counts attempts
   * per account (unknown names too) and address, and refuses locked-out attempts before any
   * bcrypt work. Reasons that need a correct password (disabled, unverified) come after it.
   */
  async signin(identifier: string, password: string, client: ClientInfo): Promise<AuthResult> {
    const { events } = this.deps;
    const found = await this.findActiveAccount(identifier);
    const accountKey = found
      ? throttleKeyOf(found._id)
      : `name:${identifier.trim().toLowerCase().slice(0, MAX_IDENTIFIER_LENGTH)}`;
    const user = await this.checkPassword(found, accountKey, password, client);
    const userId = user._id.toHexString();
    if (user.disabledAt) {
      events.emit({
        type: "signin_failed",
        reason: "ACCOUNT_DISABLED",
        userId,
        clientIp: client.ip,
      });
      throw new AuthenticationError("ACCOUNT_DISABLED");
    }
    if (this.deps.policy.requireEmailVerification && !user.emailVerifiedAt) {
      events.emit({
        type: "signin_failed",
        reason: "EMAIL_NOT_VERIFIED",
        userId,
        clientIp: client.ip,
      });
      throw new AuthenticationError("EMAIL_NOT_VERIFIED");
    }
    const result = await this.startSession(user, client);
    await userActivityCollection.replaceOne(
      { _id: user._id },
      { lastSigninAt: new Date(this.deps.clock.nowMs()) },
      { upsert: true },
    );
    events.emit({ type: "signin_succeeded", userId, clientIp: client.ip });
    return result;
  }

  /**
   * Checks the password of a signed-in user who is about to do something only the owner may
   * (change the password, delete the account), under the same throttle as signin: a stolen
   * access token does not become a way to guess the password faster.
   */
  async confirmPassword(userId: Types.ObjectId, password: string, client: ClientInfo) {
    const user = await this.deps.users.readLatest(userId);
    if (!user || user.status !== "active") throw new AuthenticationError("TOKEN_INVALID");
    return this.checkPassword(user, throttleKeyOf(userId), password, client);
  }

  /**
   * Runs one password check under the signin throttle: refused unread when a limit is reached,
   * a wrong password counted, a right one not. Unknown account and wrong password give the
   * same error after the same bcrypt work.
   */
  private async checkPassword(
    user: UserState | undefined,
    accountKey: string,
    password: string,
    client: ClientInfo,
  ): Promise<UserState> {
    const { passwords, throttle, events } = this.deps;
    const userId = user ? user._id.toHexString() : null;
    const decision = await throttle.begin(accountKey, client.ip);
    if (!decision.allowed) {
      events.emit({
        type: "signin_throttled",
        scope: decision.scope,
        retryAfterSeconds: decision.retryAfterSeconds,
        userId,
        clientIp: client.ip,
      });
      throw new AuthenticationError("TOO_MANY_ATTEMPTS", decision.retryAfterSeconds);
    }
    // A password no account can have is wrong whatever bcrypt says: one it would truncate, one
    // with a NUL, or one shorter than signup allows (bcryptjs hashes "\0" × 8 exactly like "").
    // Same work as a real comparison, so the timing tells nothing.
    const plausible =
      [...password].length >= MIN_PASSWORD_LENGTH &&
      Buffer.byteLength(password, "utf8") <= MAX_PASSWORD_BYTES &&
      !hasControlCharacters(password);
    const correct =
      user && plausible
        ? await passwords.compare(password, user.passwordHash)
        : await passwords.compareWithDummy(plausible ? password : "");
    if (!user || !correct) this.failed(decision.ticket, userId, client);
    await throttle.succeeded(decision.ticket);
    return user;
  }

  /** Trades a refresh token for a new pair of the same session. */
  async refresh(refreshToken: string, client: ClientInfo): Promise<AuthResult> {
    const { refreshTokens, users, sessions, events } = this.deps;
    let rotation;
    try {
      rotation = await refreshTokens.rotate(refreshToken, client);
    } catch (error) {
      if (error instanceof AuthenticationError && isRefreshFailure(error.reason)) {
        events.emit({ type: "refresh_failed", reason: error.reason });
      }
      throw error;
    }
    const user = await users.findById(rotation.userId);
    if (!user || user.status !== "active" || user.disabledAt) {
      // Ending the account ends its sessions; this catches one a crash left behind.
      await sessions.end(rotation.session, user ? "ACCOUNT_DISABLED" : "ACCOUNT_DELETED");
      throw new AuthenticationError(
        user?.disabledAt ? "ACCOUNT_DISABLED" : "REFRESH_TOKEN_INVALID",
      );
    }
    const sessionId = rotation.session._id.toHexString();
    events.emit({
      type: "refresh_rotated",
      userId: user._id.toHexString(),
      sessionId,
      grace: rotation.grace,
    });
    return this.result(user, sessionId, rotation);
  }

  /** Ends the session the refresh token belongs to. Signing out twice is not an error. */
  async signout(refreshToken: string): Promise<{ sessionId: string }> {
    const presented = await this.deps.refreshTokens.find(refreshToken);
    if (!presented) throw new AuthenticationError("REFRESH_TOKEN_INVALID");
    const session = await this.deps.sessions.findById(presented.sessionId);
    if (!session) throw new AuthenticationError("REFRESH_TOKEN_INVALID");
    await this.deps.sessions.end(session, "SIGNOUT");
    return { sessionId: session._id.toHexString() };
  }

  /** The session a refresh token belongs to, if the token is known and its session live. */
  async liveSessionOf(refreshToken: string): Promise<string | undefined> {
    const presented = await this.deps.refreshTokens.find(refreshToken);
    if (!presented) return undefined;
    const session = await this.deps.sessions.findById(presented.sessionId);
    return this.deps.sessions.isLive(session) ? session._id.toHexString() : undefined;
  }

  /** Ends every session of the user. Access tokens already issued live out their short TTL. */
  async signoutAll(userId: Types.ObjectId): Promise<number> {
    const count = await this.deps.sessions.endAll(userId, "SIGNOUT_ALL");
    this.deps.events.emit({
      type: "sessions_ended",
      userId: userId.toHexString(),
      count,
      reason: "SIGNOUT_ALL",
      by: userId.toHexString(),
    });
    return count;
  }

  /** A new session for an account whose password was just proven. */
  async startSession(user: UserState | UserRecord, client: ClientInfo): Promise<AuthResult> {
    const session = await this.deps.sessions.start(user._id, client);
    const refresh = await this.deps.refreshTokens.issueFirst(session);
    return this.result(user, session._id.toHexString(), refresh);
  }

  private failed(ticket: AttemptTicket, userId: string | null, client: ClientInfo): never {
    const { events } = this.deps;
    events.emit({
      type: "signin_failed",
      reason: "INVALID_CREDENTIALS",
      userId,
      clientIp: client.ip,
    });
    if (ticket.locksIfFailed) {
      events.emit({
        type: "lockout_started",
        scope: ticket.locksIfFailed,
        userId,
        clientIp: client.ip,
      });
    }
    throw new AuthenticationError("INVALID_CREDENTIALS");
  }

  /** The active account with this username or email, read past any crash-lagged state. */
  private async findActiveAccount(identifier: string): Promise<UserState | undefined> {
    const parsed = parseIdentifier(identifier);
    if (!parsed) return undefined;
    const ownerId = await this.deps.names.ownerOf(parsed.kind, parsed.name);
    if (!ownerId) return undefined;
    const user = await this.deps.users.readLatest(ownerId);
    return user?.status === "active" ? user : undefined;
  }

  private async result(
    user: UserState | UserRecord,
    sessionId: string,
    refresh: { token: string; expiresAt: Date },
  ): Promise<AuthResult> {
    const access = await this.deps.accessTokens.sign({
      id: user._id.toHexString(),
      roles: user.roles,
      sessionId,
      username: user.username,
      email: user.email,
    });
    return {
      user: "passwordHash" in user ? withoutPasswordHash(user) : user,
      sessionId,
      accessToken: access.token,
      accessTokenExpiresAt: access.expiresAt,
      refreshToken: refresh.token,
      refreshTokenExpiresAt: refresh.expiresAt,
    };
  }
}

function isRefreshFailure(
  reason: string | undefined,
): reason is "REFRESH_TOKEN_INVALID" | "REFRESH_TOKEN_EXPIRED" | "REFRESH_TOKEN_REUSED" {
  return (
    reason === "REFRESH_TOKEN_INVALID" ||
    reason === "REFRESH_TOKEN_EXPIRED" ||
    reason === "REFRESH_TOKEN_REUSED"
  );
}
