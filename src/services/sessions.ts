import { Types } from "mongoose";
import type { Clock } from "../clock";
import { collectionHeads, VersionedRecords } from "../db/versioned-records";
import {
  sessionActivityCollection,
  sessionCollection,
  type SessionEndReason,
  type SessionRecord,
} from "../entities/session.entity";
import { HEAD_COLLECTIONS } from "../entities/versioned-record.entity";
import { toObjectId } from "./user-store";

/** Where a request came from, as a session records it. */
export interface ClientInfo {
  readonly ip: string;
  readonly userAgent: string | undefined;
}

export interface SessionView {
  readonly id: string;
  readonly userId: Types.ObjectId;
  readonly createdAt: Date;
  readonly expiresAt: Date;
  readonly lastUsedAt: Date;
  readonly userAgent: string | null;
  readonly ipAtSignin: string | null;
  readonly ipAtLastRefresh: string | null;
}

interface LiveSessions {
  readonly expiresAtMs: number;
  readonly sessions: readonly { readonly id: string; readonly expiresAtMs: number }[];
}

/** A user agent is the client's to choose: keep enough to recognise a device, no more. */
const MAX_USER_AGENT_LENGTH = 256;
/**
 * Live sessions per account. Past it the oldest one ends (SESSION_LIMIT): a script signing in
 * in a loop cannot grow an account's list (read on every mySessions) without bound.
 */
export const MAX_SESSIONS_PER_USER = 50;

export function truncateUserAgent(userAgent: string | undefined): string | undefined {
  return userAgent?.slice(0, MAX_USER_AGENT_LENGTH);
}

/**
 * Sessions and the list of each account's live sessions. The list is a compare-and-set record
 * keyed by the account (`user_sessions`), so listing, "sign out everywhere" and "end the
 * others" are primary-key lookups however many accounts and sessions exist. An id joins the
 * list before its session is created and leaves it after its session ended, so a crash between
 * the two writes can leave a listed id without a live session (skipped and dropped when seen),
 * never a live session nobody can list and end.
 */
export class SessionStore {
  private readonly lists: VersionedRecords;

  constructor(
    private readonly clock: Clock,
    private readonly maxAgeSeconds: number,
  ) {
    this.lists = new VersionedRecords(clock, collectionHeads(HEAD_COLLECTIONS.userSessions));
  }

  async start(userId: Types.ObjectId, client: ClientInfo): Promise<SessionRecord> {
    const now = this.clock.nowMs();
    const session: SessionRecord = {
      _id: new Types.ObjectId(),
      userId,
      createdAt: new Date(now),
      expiresAt: new Date(now + this.maxAgeSeconds * 1000),
      userAgent: truncateUserAgent(client.userAgent),
      ip: client.ip,
      revokedAt: null,
      revokedReason: null,
    };
    const evicted = await this.lists.update<LiveSessions, string[]>(
      userId.toHexString(),
      (list) => {
        const live = (list?.sessions ?? []).filter((s) => s.expiresAtMs > now);
        const added = [
          ...live,
          { id: session._id.toHexString(), expiresAtMs: now + this.maxAgeSeconds * 1000 },
        ];
        const kept = added.slice(-MAX_SESSIONS_PER_USER);
        const dropped = added.slice(0, added.length - kept.length).map((s) => s.id);
        return { next: listOf(kept), result: dropped };
      },
    );
    await sessionCollection.insertOne(session);
    if (evicted.length > 0) await this.endMany(userId, evicted, "SESSION_LIMIT");
    return session;
  }

  async findById(id: Types.ObjectId): Promise<SessionRecord | null> {
    return sessionCollection.findOne({ _id: id });
  }

  /** A session that can still be used: exists, not ended, not past its absolute end. */
  isLive(session: SessionRecord | null): session is SessionRecord {
    return (
      session !== null && !session.revokedAt && session.expiresAt.getTime() > this.clock.nowMs()
    );
  }

  /** Records a refresh: when, from where. Last writer wins, which is what "last" means. */
  async touch(sessionId: Types.ObjectId, client: ClientInfo): Promise<void> {
    await sessionActivityCollection.replaceOne(
      { _id: sessionId },
      {
        lastUsedAt: new Date(this.clock.nowMs()),
        userAgent: truncateUserAgent(client.userAgent),
        ip: client.ip,
      },
      { upsert: true },
    );
  }

  /** Ends one session; false when it was already over. */
  async end(session: SessionRecord, reason: SessionEndReason): Promise<boolean> {
    const ended = await this.markEnded(session._id, reason);
    await this.unlist(session.userId, [session._id.toHexString()]);
    return ended;
  }

  /** The account's live sessions, newest first. */
  async listLive(userId: Types.ObjectId): Promise<SessionView[]> {
    const list = await this.lists.read<LiveSessions>(userId.toHexString());
    const ids = (list?.sessions ?? []).map((s) => toObjectId(s.id)).filter(isDefined);
    const found = await Promise.all(
      ids.map(async (id) => {
        const [session, activity] = await Promise.all([
          this.findById(id),
          sessionActivityCollection.findOne({ _id: id }),
        ]);
        return { id, session, activity };
      }),
    );
    const stale = found.filter((f) => !this.isLive(f.session)).map((f) => f.id.toHexString());
    if (stale.length > 0) await this.unlist(userId, stale);
    return found
      .filter((f): f is typeof f & { session: SessionRecord } => this.isLive(f.session))
      .map(({ session, activity }) => ({
        id: session._id.toHexString(),
        userId: session.userId,
        createdAt: session.createdAt,
        expiresAt: session.expiresAt,
        lastUsedAt: activity?.lastUsedAt ?? session.createdAt,
        userAgent: activity?.userAgent ?? session.userAgent ?? null,
        ipAtSignin: session.ip ?? null,
        ipAtLastRefresh: activity?.ip ?? null,
      }))
      .sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime());
  }

  /** Ends every live session of the account except `keep`; returns how many ended. */
  async endAll(userId: Types.ObjectId, reason: SessionEndReason, keep?: string): Promise<number> {
    const list = await this.lists.read<LiveSessions>(userId.toHexString());
    const ids = (list?.sessions ?? []).map((s) => s.id).filter((id) => id !== keep);
    return this.endMany(userId, ids, reason);
  }

  /** Forgets the account's list (the account is gone; its sessions were ended first). */
  async removeList(userId: Types.ObjectId): Promise<void> {
    await this.lists.remove(userId.toHexString());
  }

  private async endMany(
    userId: Types.ObjectId,
    ids: readonly string[],
    reason: SessionEndReason,
  ): Promise<number> {
    const ended = await Promise.all(
      ids.map((id) => {
        const objectId = toObjectId(id);
        return objectId ? this.markEnded(objectId, reason) : false;
      }),
    );
    await this.unlist(userId, ids);
    return ended.filter(Boolean).length;
  }

  /** Sets revokedAt on a live session; false when it was already over (or never created). */
  private async markEnded(id: Types.ObjectId, reason: SessionEndReason): Promise<boolean> {
    const session = await this.findById(id);
    if (!this.isLive(session)) return false;
    await sessionCollection.updateOne(
      { _id: id },
      { $set: { revokedAt: new Date(this.clock.nowMs()), revokedReason: reason } },
    );
    return true;
  }

  private async unlist(userId: Types.ObjectId, ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return;
    const gone = new Set(ids);
    await this.lists.update<LiveSessions, void>(userId.toHexString(), (list) => {
      if (!list || !list.sessions.some((s) => gone.has(s.id))) return { result: undefined };
      return { next: listOf(list.sessions.filter((s) => !gone.has(s.id))), result: undefined };
    });
  }
}

function listOf(sessions: LiveSessions["sessions"]): LiveSessions {
  return {
    sessions,
    expiresAtMs: Math.max(0, ...sessions.map((s) => s.expiresAtMs)),
  };
}

function isDefined<T>(value: T | undefined): value is T {
  return value !== undefined;
}
