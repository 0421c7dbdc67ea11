import { randomBytes } from "node:crypto";
import type { Types } from "mongoose";
import {
  generateRefreshToken,
  hashRefreshToken,
  refreshSecretMatches,
} from "../auth/refresh-token-secrets";
import type { Clock } from "../clock";
import { insertOnce } from "../db/atomic-writes";
import {
  refreshRotationCollection,
  refreshTokenCollection,
} from "../entities/refresh-token.entity";
import type { SessionRecord } from "../entities/session.entity";
import { AuthenticationError } from "../errors";
import type { SecurityEvents } from "./security-events";
import type { ClientInfo, SessionStore } from "./sessions";

export interface RefreshPolicy {
  readonly refreshTokenTtlSeconds: number;
  /** How long after a rotation the spent token still gets a working pair (0: never). */
  readonly reuseGraceSeconds: number;
}

export interface IssuedRefreshToken {
  readonly token: string;
  readonly expiresAt: Date;
}

export interface Rotation extends IssuedRefreshToken {
  readonly session: SessionRecord;
  readonly userId: Types.ObjectId;
  /** A second presentation within the grace, answered with a sibling token. */
  readonly grace: boolean;
}

/** What we keep about a token: its place in its session's chain, and until when. */
export interface StoredToken {
  readonly node: string;
  readonly sessionId: Types.ObjectId;
  readonly expiresAt: Date;
}

/** Longer than any token we issue (66 characters); anything bigger is refused unread. */
const MAX_REFRESH_TOKEN_LENGTH = 256;

function newNode(): string {
  return randomBytes(16).toString("base64url");
}

/**
 * Every refresh-token rule: issue, rotate on every use, detect reuse (RFC 9700 §4.14.2), and
 * let two tabs that refresh with one token at once both stay signed in.
 *
 * Each session is a chain of nodes; a token names its node. Refreshing spends the token's node
 * by inserting a RefreshRotation with the node as _id, which the database lets happen once;
 * the winner gets a token of the new node. A token whose node is already spent is a replay:
 * within `reuseGraceSeconds` of the rotation it gets a sibling token of the node that replaced
 * it (a second tab, or a response lost in transit), so the session keeps exactly one live
 * place in its chain; after that it ends the whole session.
 *
 * Tokens come in two shapes, both opaque to clients. A session's first token, a sibling, and
 * every token issued before rotated tokens moved into their rotation record, is a bare secret
 * kept by its hash in refresh_tokens. A rotated token reads `<spent node>.<secret>`: the
 * rotation record that spent the node holds its secret's hash, so spending a node and issuing
 * its successor is one insert.
 */
export class RefreshTokens {
  constructor(
    private readonly policy: RefreshPolicy,
    private readonly clock: Clock,
    private readonly sessions: SessionStore,
    private readonly events: SecurityEvents,
  ) {}

  /** The first token of a new session. */
  async issueFirst(session: SessionRecord): Promise<IssuedRefreshToken> {
    return this.issue(session, newNode());
  }

  /** What a presented token stands for, without spending it; null for no token of ours. */
  async find(token: string): Promise<StoredToken | null> {
    if (token.length === 0 || token.length > MAX_REFRESH_TOKEN_LENGTH) return null;
    const dot = token.indexOf(".");
    if (dot < 0) return refreshTokenCollection.findOne({ _id: hashRefreshToken(token) });
    const issuer = await refreshRotationCollection.findOne({ _id: token.slice(0, dot) });
    if (!issuer?.childTokenHash) return null;
    if (!refreshSecretMatches(token.slice(dot + 1), issuer.childTokenHash)) return null;
    return { node: issuer.child, sessionId: issuer.sessionId, expiresAt: issuer.expiresAt };
  }

  /** Spends a refresh token for a new one of the same session. */
  async rotate(presentedToken: string, client: ClientInfo): Promise<Rotation> {
    const presented = await this.find(presentedToken);
    if (!presented) throw new AuthenticationError("REFRESH_TOKEN_INVALID");
    const session = await this.sessions.findById(presented.sessionId);
    if (!session) throw new AuthenticationError("REFRESH_TOKEN_INVALID");
    const now = this.clock.nowMs();

    if (session.revokedAt) {
      // A spent token stays a replay even after its session ended (for instance, ended by the
      // replay before it): the client should hear REUSED, not a generic INVALID.
      const spent = await refreshRotationCollection.findOne({ _id: presented.node });
      throw new AuthenticationError(spent ? "REFRESH_TOKEN_REUSED" : "REFRESH_TOKEN_INVALID");
    }
    if (presented.expiresAt.getTime() <= now || session.expiresAt.getTime() <= now) {
      // An expired token that was also spent is still a replay: treat it as one.
      const spent = await refreshRotationCollection.findOne({ _id: presented.node });
      if (spent) await this.reuseDetected(session, "expired token replayed");
      throw new AuthenticationError(spent ? "REFRESH_TOKEN_REUSED" : "REFRESH_TOKEN_EXPIRED");
    }

    const secret = generateRefreshToken();
    // Never earlier than the presented token's expiry: the record outlives the spent tokens.
    const expiresAt = this.expiryOf(session, now);
    const won = await insertOnce(refreshRotationCollection, {
      _id: presented.node,
      child: newNode(),
      sessionId: session._id,
      at: new Date(now),
      expiresAt,
      childTokenHash: hashRefreshToken(secret),
    });
    if (won) {
      await this.sessions.touch(session._id, client);
      const token = `${presented.node}.${secret}`;
      return { token, expiresAt, session, userId: session.userId, grace: false };
    }

    const rotation = await refreshRotationCollection.findOne({ _id: presented.node });
    // A grace of 0 is the strict rule: even a replay in the very millisecond of the rotation
    // (two tabs refreshing at once) is reuse.
    const withinGrace =
      rotation !== null &&
      this.policy.reuseGraceSeconds > 0 &&
      now - rotation.at.getTime() <= this.policy.reuseGraceSeconds * 1000;
    if (!withinGrace || !rotation) {
      await this.reuseDetected(session, "spent token presented again");
      throw new AuthenticationError("REFRESH_TOKEN_REUSED");
    }
    // A second tab (or a retried request) within the grace: a sibling of the winner's token.
    const sibling = await this.issue(session, rotation.child);
    await this.sessions.touch(session._id, client);
    return { ...sibling, session, userId: session.userId, grace: true };
  }

  /** A bare-secret token of `node`, kept by its hash in refresh_tokens. */
  private async issue(session: SessionRecord, node: string): Promise<IssuedRefreshToken> {
    const now = this.clock.nowMs();
    const token = generateRefreshToken();
    const expiresAt = this.expiryOf(session, now);
    await refreshTokenCollection.insertOne({
      _id: hashRefreshToken(token),
      node,
      sessionId: session._id,
      userId: session.userId,
      createdAt: new Date(now),
      expiresAt,
    });
    return { token, expiresAt };
  }

  /** A new token's inactivity deadline, never past its session's end. */
  private expiryOf(session: SessionRecord, now: number): Date {
    const inactivityDeadline = now + this.policy.refreshTokenTtlSeconds * 1000;
    return new Date(Math.min(inactivityDeadline, session.expiresAt.getTime()));
  }

  private async reuseDetected(session: SessionRecord, detail: string): Promise<void> {
    await this.sessions.end(session, "REUSE_DETECTED");
    this.events.emit({
      type: "refresh_token_reused",
      userId: session.userId.toHexString(),
      sessionId: session._id.toHexString(),
      detail,
    });
  }
}
