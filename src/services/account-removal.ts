import { setTimeout as sleep } from "node:timers/promises";
import type { Types } from "mongoose";
import type { BackgroundJob } from "../background/background-jobs";
import type { Clock } from "../clock";
import { RECORD_VERSIONS } from "../db/versioned-records";
import { accountPurgeCollection } from "../entities/account-purge.entity";
import {
  refreshRotationCollection,
  refreshTokenCollection,
} from "../entities/refresh-token.entity";
import { Role } from "../entities/role";
import { sessionActivityCollection, sessionCollection } from "../entities/session.entity";
import { userActivityCollection } from "../entities/user-activity.entity";
import { NotFoundError } from "../errors";
import mongoose from "mongoose";
import type { AccountNames } from "./account-names";
import type { AdminRoster } from "./admin-roster";
import { throttleKeyOf, type AuthService } from "./auth.service";
import type { SecurityEvents } from "./security-events";
import type { ClientInfo, SessionStore } from "./sessions";
import type { SigninThrottle } from "./signin-throttle";
import type { UserStore } from "./user-store";

/** More data keyed to an account that a feature keeps (email tokens, mail): purged with it. */
export interface AccountPurgeStep {
  readonly name: string;
  purge(userIds: readonly Types.ObjectId[]): Promise<void>;
}

/** Deleted accounts purged per run: each kind of data is one scan for all of them. */
const PURGE_BATCH = 50;

/**
 * Deleting an account, for its owner (deleteAccount) and for an administrator (deleteUser).
 *
 * The request does what must take effect at once, each step safe to stop after: queue the
 * purge, leave the administrator roster (refused for the last administrator), delete the
 * account (its names are free from then on, it can no longer sign in), end its sessions (its
 * refresh tokens stop working). Its access tokens live out their TTL. The purge job then
 * deletes everything else keyed to it — sessions, refresh tokens, rotations, activity, throttle
 * records, old versions of the account (which hold its hash and email) — in the background,
 * because those are found by scanning, which the request path never does.
 */
export class AccountRemoval implements BackgroundJob {
  readonly name = "account-purge";
  readonly everyMs = 60_000;

  constructor(
    private readonly deps: {
      readonly clock: Clock;
      readonly users: UserStore;
      readonly names: AccountNames;
      readonly roster: AdminRoster;
      readonly sessions: SessionStore;
      readonly throttle: SigninThrottle;
      readonly events: SecurityEvents;
      readonly auth: Pick<AuthService, "confirmPassword">;
      readonly extraSteps?: readonly AccountPurgeStep[];
    },
  ) {}

  /** The owner deletes their account, proving it with the password (under the signin throttle). */
  async removeOwn(userId: Types.ObjectId, password: string, client: ClientInfo): Promise<void> {
    await this.deps.auth.confirmPassword(userId, password, client);
    await this.remove(userId, userId, "password");
  }

  /** Deletes the account now; `field` names the argument a LAST_ADMIN refusal is about. */
  async remove(userId: Types.ObjectId, by: Types.ObjectId, field: string): Promise<void> {
    const { users, roster, sessions, events, clock } = this.deps;
    const current = await users.readLatest(userId);
    if (!current || current.status !== "active") throw new NotFoundError("No user has this id.");
    if (current.roles.includes(Role.ADMIN)) await roster.remove(userId, field);
    await accountPurgeCollection
      .insertOne({
        _id: userId,
        at: new Date(clock.nowMs()),
        usernameKey: current.usernameKey,
        email: current.email,
      })
      .catch((error: unknown) => {
        // Queued already: an earlier attempt stopped after this step.
        if ((error as { code?: unknown }).code !== 11000) throw error;
      });
    await users.update(userId, (state) =>
      state ? { next: "deleted" as const, result: undefined } : { result: undefined },
    );
    const ended = await sessions.endAll(userId, "ACCOUNT_DELETED");
    events.emit({ type: "account_deleted", userId: userId.toHexString(), by: by.toHexString() });
    events.emit({
      type: "sessions_ended",
      userId: userId.toHexString(),
      count: ended,
      reason: "ACCOUNT_DELETED",
      by: by.toHexString(),
    });
  }

  async run(signal: AbortSignal): Promise<{ more: boolean }> {
    const queued = await accountPurgeCollection.find().limit(PURGE_BATCH).toArray();
    if (queued.length === 0) return { more: false };
    const gone: Types.ObjectId[] = [];
    for (const entry of queued) {
      // A deletion refused after it was queued (LAST_ADMIN) leaves a live account: not ours.
      if (await this.deps.users.readLatest(entry._id)) {
        await accountPurgeCollection.deleteOne({ _id: entry._id });
      } else {
        // Free already (their owner is gone); released, the records name nobody.
        await this.deps.names.release("username", entry.usernameKey, entry._id);
        await this.deps.names.release("email", entry.email, entry._id);
        gone.push(entry._id);
      }
    }
    if (gone.length === 0 || signal.aborted) return { more: queued.length === PURGE_BATCH };

    const sessionIds = (
      await sessionCollection.find({ userId: { $in: gone } }, { projection: { _id: 1 } }).toArray()
    ).map((s) => s._id);
    await refreshRotationCollection.deleteMany({ sessionId: { $in: sessionIds } });
    await refreshTokenCollection.deleteMany({ userId: { $in: gone } });
    await sessionActivityCollection.deleteMany({ _id: { $in: sessionIds } });
    await sessionCollection.deleteMany({ userId: { $in: gone } });
    await userActivityCollection.deleteMany({ _id: { $in: gone } });
    await mongoose.connection
      .collection(RECORD_VERSIONS)
      .deleteMany({ k: { $in: gone.map((id) => `users:${id.toHexString()}`) } });
    for (const id of gone) {
      await this.deps.throttle.removeAccount(throttleKeyOf(id));
      await this.deps.sessions.removeList(id);
      await sleep(5);
    }
    for (const step of this.deps.extraSteps ?? []) await step.purge(gone);
    for (const id of gone) await accountPurgeCollection.deleteOne({ _id: id });
    return { more: queued.length === PURGE_BATCH };
  }
}
