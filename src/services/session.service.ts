import type { Types } from "mongoose";
import { NotFoundError } from "../errors";
import type { SecurityEvents } from "./security-events";
import type { SessionStore, SessionView } from "./sessions";
import { toObjectId } from "./user-store";

export interface SessionListing extends SessionView {
  readonly current: boolean;
}

/**
 * What a signed-in user can do with their own sessions: list them, end one, end all the others.
 * Ending a session stops its refresh tokens at once; its access tokens live out their short TTL
 * (REVOKED_SESSION_CHECK=true makes protected fields check the session on every request).
 */
export class SessionService {
  constructor(
    private readonly sessions: SessionStore,
    private readonly events: SecurityEvents,
  ) {}

  async list(userId: Types.ObjectId, currentSessionId: string): Promise<SessionListing[]> {
    const live = await this.sessions.listLive(userId);
    return live.map((session) => ({ ...session, current: session.id === currentSessionId }));
  }

  /**
   * Ends one of the user's sessions. Another user's session id, an unknown one and an ended one
   * all answer NOT_FOUND: the answer must not tell which ids exist.
   */
  async revoke(userId: Types.ObjectId, sessionId: string): Promise<true> {
    const id = toObjectId(sessionId);
    const session = id ? await this.sessions.findById(id) : null;
    if (!session || !session.userId.equals(userId) || !this.sessions.isLive(session)) {
      throw new NotFoundError("You have no session with this id.");
    }
    await this.sessions.end(session, "REVOKED");
    this.events.emit({
      type: "sessions_ended",
      userId: userId.toHexString(),
      count: 1,
      reason: "REVOKED",
      by: userId.toHexString(),
    });
    return true;
  }

  /** Ends every session of the user but the current one; how many ended. */
  async revokeOthers(userId: Types.ObjectId, currentSessionId: string): Promise<number> {
    const count = await this.sessions.endAll(userId, "REVOKED_OTHERS", currentSessionId);
    this.events.emit({
      type: "sessions_ended",
      userId: userId.toHexString(),
      count,
      reason: "REVOKED_OTHERS",
      by: userId.toHexString(),
    });
    return count;
  }
}
