import { type Types } from "mongoose";
import type { Filter } from "mongodb";
import type { Clock } from "../clock";
import { Role } from "../entities/role";
import { userCollection, type User, type UserRecord } from "../entities/user.entity";
import { InputError, NotFoundError } from "../errors";
import type { AccountRemoval } from "./account-removal";
import type { AdminRoster } from "./admin-roster";
import type { SecurityEvents } from "./security-events";
import type { SessionStore, SessionView } from "./sessions";
import { toObjectId, withoutPasswordHash, type UserStore } from "./user-store";
import { parseUserId } from "./user.service";

export const MAX_PAGE_SIZE = 100;
const MAX_REASON_LENGTH = 200;
const MAX_SEARCH_LENGTH = 254;

export interface UserQuery {
  readonly first: number;
  readonly after?: string | null;
  readonly search?: string | null;
  readonly role?: Role | null;
  readonly disabled?: boolean | null;
}

export interface UserPage {
  readonly edges: { cursor: string; node: UserRecord }[];
  readonly pageInfo: { hasNextPage: boolean; endCursor: string | null };
  readonly totalCount: number;
}

/**
 * A listing's time limit, above the 3 s every request-path operation gets: on FerretDB's
 * backends the filter and the count scan every account (bench:scale: over 3 s at 10,000), and
 * an administrator's page may wait where a signin may not.
 */
const LISTING_TIMEOUT_MS = 30_000;

/** Cursors are opaque to clients: the base64url of the last account id of a page. */
function cursorOf(id: Types.ObjectId): string {
  return Buffer.from(id.toHexString(), "utf8").toString("base64url");
}

function afterCursor(cursor: string): Types.ObjectId {
  const id = toObjectId(Buffer.from(cursor, "base64url").toString("utf8"));
  if (!id) throw new InputError("after", "after is not a cursor this server gave out.");
  return id;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/**
 * User administration, for ADMIN callers: find accounts, disable and enable them, end their
 * sessions, delete them. Every loss of an enabled administrator goes through the roster
 * (admin-roster.ts) first, so two administrators acting on each other at once never leave none.
 *
 * Listing filters and counts accounts, which scans on FerretDB's SQLite backend (about 20 µs
 * per account): an administrator's page, never a request-path query.
 */
export class AdminService {
  constructor(
    private readonly deps: {
      readonly clock: Clock;
      readonly users: UserStore;
      readonly roster: AdminRoster;
      readonly sessions: SessionStore;
      readonly removal: AccountRemoval;
      readonly events: SecurityEvents;
    },
  ) {}

  async listUsers(query: UserQuery): Promise<UserPage> {
    if (!Number.isInteger(query.first) || query.first < 1 || query.first > MAX_PAGE_SIZE) {
      throw new InputError("first", `first must be between 1 and ${MAX_PAGE_SIZE}.`);
    }
    const filter: Filter<User> = { status: "active" };
    const search = query.search?.trim().toLowerCase();
    if (search) {
      if (search.length > MAX_SEARCH_LENGTH) {
        throw new InputError("search", `search must be at most ${MAX_SEARCH_LENGTH} characters.`);
      }
      // Anchored and lowercased like the stored keys: MongoDB answers it from an index.
      const prefix = new RegExp(`^${escapeRegExp(search)}`);
      filter.$or = [{ usernameKey: prefix }, { email: prefix }];
    }
    if (query.role) filter.roles = query.role;
    if (query.disabled === true) filter.disabledAt = { $ne: null };
    if (query.disabled === false) filter.disabledAt = null;

    const page: Filter<User> = query.after
      ? { ...filter, _id: { $gt: afterCursor(query.after) } }
      : filter;
    const [found, totalCount] = await Promise.all([
      userCollection
        .find(page, { projection: { passwordHash: 0, v: 0 }, timeoutMS: LISTING_TIMEOUT_MS })
        .sort({ _id: 1 })
        .limit(query.first + 1)
        .toArray(),
      userCollection.countDocuments(filter, { timeoutMS: LISTING_TIMEOUT_MS }),
    ]);
    const nodes = found.slice(0, query.first) as unknown as UserRecord[];
    const edges = nodes.map((node) => ({ cursor: cursorOf(node._id), node }));
    return {
      edges,
      pageInfo: {
        hasNextPage: found.length > query.first,
        endCursor: edges.at(-1)?.cursor ?? null,
      },
      totalCount,
    };
  }

  async getUser(id: string): Promise<UserRecord | null> {
    const userId = toObjectId(id);
    if (!userId) return null;
    const user = await this.deps.users.findById(userId);
    return user?.status === "active" ? user : null;
  }

  /** Sessions of any account, for the admin view of a user. */
  sessionsOf(userId: Types.ObjectId): Promise<SessionView[]> {
    return this.deps.sessions.listLive(userId);
  }

  async disable(callerId: Types.ObjectId, id: string, reason: string | null): Promise<UserRecord> {
    const target = parseUserId(id, "id");
    if (target.equals(callerId)) {
      throw new InputError("id", "You cannot disable your own account.", "CANNOT_DISABLE_SELF");
    }
    const text = reason?.trim().slice(0, MAX_REASON_LENGTH) || null;
    const current = await this.activeAccount(target);
    if (current.roles.includes(Role.ADMIN) && !current.disabledAt) {
      await this.deps.roster.remove(target, "id");
    }
    const now = new Date(this.deps.clock.nowMs());
    const updated = await this.deps.users.update(target, (state) =>
      state?.status === "active"
        ? {
            next: { ...state, disabledAt: state.disabledAt ?? now, disabledReason: text },
            result: { ...state, disabledAt: state.disabledAt ?? now, disabledReason: text },
          }
        : { result: undefined },
    );
    if (!updated) throw new NotFoundError("No user has this id.");
    const ended = await this.deps.sessions.endAll(target, "ACCOUNT_DISABLED");
    this.deps.events.emit({
      type: "account_disabled",
      userId: target.toHexString(),
      by: callerId.toHexString(),
    });
    this.deps.events.emit({
      type: "sessions_ended",
      userId: target.toHexString(),
      count: ended,
      reason: "ACCOUNT_DISABLED",
      by: callerId.toHexString(),
    });
    return withoutPasswordHash(updated);
  }

  async enable(callerId: Types.ObjectId, id: string): Promise<UserRecord> {
    const target = parseUserId(id, "id");
    await this.activeAccount(target);
    const updated = await this.deps.users.update(target, (state) =>
      state?.status === "active"
        ? {
            next: { ...state, disabledAt: null, disabledReason: null },
            result: { ...state, disabledAt: null, disabledReason: null },
          }
        : { result: undefined },
    );
    if (!updated) throw new NotFoundError("No user has this id.");
    // Back among the administrators only once enabled again.
    if (updated.roles.includes(Role.ADMIN)) await this.deps.roster.add(target);
    this.deps.events.emit({
      type: "account_enabled",
      userId: target.toHexString(),
      by: callerId.toHexString(),
    });
    return withoutPasswordHash(updated);
  }

  async revokeSessions(callerId: Types.ObjectId, id: string): Promise<number> {
    const target = parseUserId(id, "id");
    await this.activeAccount(target);
    const count = await this.deps.sessions.endAll(target, "ADMIN_REVOKED");
    this.deps.events.emit({
      type: "sessions_ended",
      userId: target.toHexString(),
      count,
      reason: "ADMIN_REVOKED",
      by: callerId.toHexString(),
    });
    return count;
  }

  async deleteUser(callerId: Types.ObjectId, id: string): Promise<true> {
    await this.deps.removal.remove(parseUserId(id, "id"), callerId, "id");
    return true;
  }

  private async activeAccount(id: Types.ObjectId) {
    const current = await this.deps.users.readLatest(id);
    if (!current || current.status !== "active") throw new NotFoundError("No user has this id.");
    return current;
  }
}
