import type { Types } from "mongoose";
import type { AccessTokens } from "../auth/access-tokens";
import type { PasswordHasher } from "../auth/passwords";
import { MAX_PASSWORD_BYTES } from "../auth/passwords";
import { generateRefreshToken, hashRefreshToken } from "../auth/refresh-tokens";
import { isDuplicateKeyError } from "../db/mongo-errors";
import { RefreshTokenModel } from "../entities/refresh-token.entity";
import { SessionModel } from "../entities/session.entity";
import { UserModel } from "../entities/user.entity";
import { tooManyAttempts, unauthenticated } from "../errors";
import type { SigninThrottle } from "./signin-throttle";
import { normalizeEmail, usernameKey } from "./signup-rules";
import type { UserDocument } from "./user.service";

export interface AuthResult {
  user: UserDocument;
  accessToken: string;
  accessTokenExpiresAt: Date;
  refreshToken: string;
  refreshTokenExpiresAt: Date;
}

export interface SessionPolicy {
  refreshTokenTtlSeconds: number;
  sessionMaxAgeSeconds: number;
}

/** Longer than any token we issue (43 characters); anything bigger is refused unread. */
const MAX_REFRESH_TOKEN_LENGTH = 256;
const MAX_IDENTIFIER_LENGTH = 254;

/**
 * Sign-in sessions and their refresh tokens: signin, rotation with reuse detection, signout.
 * All the refresh-token rules live here.
 */
export class AuthService {
  constructor(
    private readonly passwords: PasswordHasher,
    private readonly accessTokens: AccessTokens,
    private readonly policy: SessionPolicy,
    private readonly throttle: SigninThrottle,
  ) {}

  /**
   * Unknown account and wrong password give the same error after the same bcrypt work, so
   * neither the message nor the timing tells which usernames exist. The throttle counts
   * attempts per account (unknown names included, so a lockout reveals nothing either) and
   * per client IP, and refuses locked-out attempts before any bcrypt work.
   */
  async signin(identifier: string, password: string, clientIp: string): Promise<AuthResult> {
    const user = await this.findAccount(identifier);
    const accountKey = user
      ? `account:${user.id}`
      : `account:${identifier.trim().toLowerCase().slice(0, MAX_IDENTIFIER_LENGTH)}`;
    const decision = await this.throttle.begin(accountKey, clientIp);
    if (!decision.allowed) throw tooManyAttempts(decision.retryAfterSeconds);

    const plausible = Buffer.byteLength(password, "utf8") <= MAX_PASSWORD_BYTES;
    if (!user || !plausible) {
      await this.passwords.compareWithDummy(plausible ? password : "");
      throw unauthenticated("INVALID_CREDENTIALS");
    }
    if (!(await this.passwords.compare(password, user.passwordHash))) {
      throw unauthenticated("INVALID_CREDENTIALS");
    }
    await this.throttle.succeeded(decision.ticket);
    return this.startSession(user);
  }

  /**
   * Trades a refresh token for a new pair. The presented token is spent by inserting its
   * successor (unique parentHash), which the database lets happen once; presenting it again
   * ends the whole session (RFC 9700 §4.14.2).
   */
  async refresh(refreshToken: string): Promise<AuthResult> {
    const presented = await this.findToken(refreshToken);
    if (!presented) throw unauthenticated("REFRESH_TOKEN_INVALID");

    const session = await SessionModel.findById(presented.sessionId).lean().exec();
    if (!session) throw unauthenticated("REFRESH_TOKEN_INVALID");
    if (session.revoked) {
      // A spent token stays a replay even after its session ended (for instance, ended by the
      // replay before it): the client should hear REUSED, not a generic INVALID.
      const spent = await RefreshTokenModel.exists({ parentHash: presented._id });
      throw unauthenticated(spent ? "REFRESH_TOKEN_REUSED" : "REFRESH_TOKEN_INVALID");
    }

    const now = new Date();
    if (presented.expiresAt <= now || session.expiresAt <= now) {
      // An expired token that was also spent is still a replay: treat it as one.
      if (await RefreshTokenModel.exists({ parentHash: presented._id })) {
        await this.revokeSession(session._id, "REUSE_DETECTED");
        throw unauthenticated("REFRESH_TOKEN_REUSED");
      }
      throw unauthenticated("REFRESH_TOKEN_EXPIRED");
    }

    const user = await UserModel.findById(presented.userId).exec();
    if (!user) throw unauthenticated("REFRESH_TOKEN_INVALID");

    let next: { token: string; expiresAt: Date };
    try {
      next = await this.issueRefreshToken({
        parentHash: presented._id,
        sessionId: session._id,
        userId: user._id,
        sessionExpiresAt: session.expiresAt,
        now,
      });
    } catch (error) {
      if (!isDuplicateKeyError(error)) throw error;
      await this.revokeSession(session._id, "REUSE_DETECTED");
      throw unauthenticated("REFRESH_TOKEN_REUSED");
    }
    return this.result(user, next);
  }

  /** Ends the session the token belongs to. Signing out twice is not an error. */
  async signout(refreshToken: string): Promise<boolean> {
    const presented = await this.findToken(refreshToken);
    if (!presented) throw unauthenticated("REFRESH_TOKEN_INVALID");
    await this.revokeSession(presented.sessionId, "SIGNOUT");
    return true;
  }

  /** Ends every session of the user. Access tokens already issued live out their short TTL. */
  async signoutAll(userId: string): Promise<boolean> {
    await SessionModel.updateMany(
      { userId, revoked: false },
      { $set: { revoked: true, revokedAt: new Date(), revokedReason: "SIGNOUT_ALL" } },
    ).exec();
    return true;
  }

  private async findAccount(identifier: string): Promise<UserDocument | null> {
    const trimmed = identifier.trim();
    if (trimmed.length === 0 || trimmed.length > MAX_IDENTIFIER_LENGTH) return null;
    // Usernames cannot contain "@", so an identifier with one can only be an email.
    const filter = trimmed.includes("@")
      ? { email: normalizeEmail(trimmed) }
      : { usernameKey: usernameKey(trimmed) };
    return UserModel.findOne(filter).select("+passwordHash").exec();
  }

  private async findToken(refreshToken: string) {
    if (refreshToken.length === 0 || refreshToken.length > MAX_REFRESH_TOKEN_LENGTH) return null;
    return RefreshTokenModel.findById(hashRefreshToken(refreshToken)).lean().exec();
  }

  private async startSession(user: UserDocument): Promise<AuthResult> {
    const now = new Date();
    const session = await SessionModel.create({
      userId: user._id,
      createdAt: now,
      expiresAt: new Date(now.getTime() + this.policy.sessionMaxAgeSeconds * 1000),
      revoked: false,
    });
    const refresh = await this.issueRefreshToken({
      parentHash: `session:${session._id.toHexString()}`,
      sessionId: session._id,
      userId: user._id,
      sessionExpiresAt: session.expiresAt,
      now,
    });
    return this.result(user, refresh);
  }

  private async issueRefreshToken(args: {
    parentHash: string;
    sessionId: Types.ObjectId;
    userId: Types.ObjectId;
    sessionExpiresAt: Date;
    now: Date;
  }): Promise<{ token: string; expiresAt: Date }> {
    const token = generateRefreshToken();
    const inactivityDeadline = args.now.getTime() + this.policy.refreshTokenTtlSeconds * 1000;
    const expiresAt = new Date(Math.min(inactivityDeadline, args.sessionExpiresAt.getTime()));
    await RefreshTokenModel.create({
      _id: hashRefreshToken(token),
      parentHash: args.parentHash,
      sessionId: args.sessionId,
      userId: args.userId,
      createdAt: args.now,
      expiresAt,
    });
    return { token, expiresAt };
  }

  private async revokeSession(
    sessionId: Types.ObjectId,
    reason: "SIGNOUT" | "REUSE_DETECTED",
  ): Promise<void> {
    await SessionModel.updateOne(
      { _id: sessionId, revoked: false },
      { $set: { revoked: true, revokedAt: new Date(), revokedReason: reason } },
    ).exec();
  }

  private result(user: UserDocument, refresh: { token: string; expiresAt: Date }): AuthResult {
    const access = this.accessTokens.sign({ id: user.id, roles: user.roles });
    return {
      user,
      accessToken: access.token,
      accessTokenExpiresAt: access.expiresAt,
      refreshToken: refresh.token,
      refreshTokenExpiresAt: refresh.expiresAt,
    };
  }
}
