import { Types } from "mongoose";
import type { Caller } from "../auth/caller";
import type { PasswordHasher } from "../auth/passwords";
import type { Clock } from "../clock";
import { Role } from "../entities/role";
import { userActivityCollection } from "../entities/user-activity.entity";
import type { UserRecord } from "../entities/user.entity";
import { InputError, NotFoundError, PermissionError } from "../errors";
import {
  assertValidAccount,
  normalizeEmail,
  usernameKey,
  type AccountFields,
} from "./account-rules";
import type { AccountNames } from "./account-names";
import type { AdminRoster } from "./admin-roster";
import type { SecurityEvents } from "./security-events";
import { toObjectId, withoutPasswordHash, type UserState, type UserStore } from "./user-store";

export interface SignupRequest extends AccountFields {
  roles?: Role[] | null;
}

const usernameTaken = () =>
  new InputError("username", "This username is already taken.", "USERNAME_TAKEN");
const emailTaken = () =>
  new InputError("email", "This email is already registered.", "EMAIL_TAKEN");

/** Parses an id argument; an id that cannot exist is the caller's mistake, named by field. */
export function parseUserId(id: string, field: string): Types.ObjectId {
  const parsed = toObjectId(id);
  if (!parsed) throw new InputError(field, `${field} is not a valid user id.`);
  return parsed;
}

/**
 * Accounts: creating them (with their unique names), and changing their roles. Every change
 * is a compare-and-set on the account (UserStore), and every loss of ADMIN goes through the
 * administrator roster first, so no interleaving of requests leaves the server without one.
 */
export class UserService {
  constructor(
    private readonly deps: {
      readonly clock: Clock;
      readonly passwords: PasswordHasher;
      readonly users: UserStore;
      readonly names: AccountNames;
      readonly roster: AdminRoster;
      readonly events: SecurityEvents;
      /** Queues a new account's verification mail (account-recovery.service.ts). */
      readonly verificationMail?: {
        queueSignupVerification(userId: Types.ObjectId): Promise<void>;
      };
    },
  ) {}

  findById(id: string | Types.ObjectId): Promise<UserRecord | null> {
    return this.deps.users.findById(id);
  }

  async lastSigninAt(id: Types.ObjectId): Promise<Date | null> {
    return (await userActivityCollection.findOne({ _id: id }))?.lastSigninAt ?? null;
  }

  /**
   * Creates an account. Roles are honoured only for an ADMIN caller: self-service signup as
   * admin was the tutorial's worst hole.
   */
  async signup(request: SignupRequest, caller: Caller): Promise<UserRecord> {
    let roles: Role[] = [Role.USER];
    if (request.roles !== undefined && request.roles !== null) {
      const isAdmin = caller.kind === "authenticated" && caller.claims.roles.includes(Role.ADMIN);
      if (!isAdmin) throw new PermissionError("Only an administrator can choose roles at signup.");
      roles = [...new Set(request.roles)];
      if (roles.length === 0)
        throw new InputError("roles", "Give at least one role, or leave roles out.");
    }
    assertValidAccount(request);
    const user = await this.create(request, roles);
    await this.deps.verificationMail?.queueSignupVerification(user._id);
    return user;
  }

  /**
   * Creates the admin named by ADMIN_USERNAME / ADMIN_EMAIL / ADMIN_PASSWORD when no account
   * has that username. An existing account is left exactly as it is (its password is not reset).
   */
  async ensureInitialAdmin(admin: AccountFields): Promise<"created" | "exists"> {
    assertValidAccount(admin);
    if (!(await this.deps.names.isAvailable("username", usernameKey(admin.username)))) {
      return "exists";
    }
    try {
      await this.create(admin, [Role.USER, Role.MODERATOR, Role.ADMIN]);
      return "created";
    } catch (error) {
      // Another instance starting at the same moment created it first.
      if (error instanceof InputError && error.reason === "USERNAME_TAKEN") return "exists";
      throw error;
    }
  }

  async setRoles(caller: Caller, userId: string, roles: Role[]): Promise<UserRecord> {
    const target = parseUserId(userId, "userId");
    const unique = [...new Set(roles)];
    if (unique.length === 0) throw new InputError("roles", "A user needs at least one role.");
    const callerId = caller.kind === "authenticated" ? toObjectId(caller.claims.userId) : undefined;
    if (callerId?.equals(target) && !unique.includes(Role.ADMIN)) {
      // Stops an admin from locking themselves out by accident.
      throw new InputError(
        "roles",
        "You cannot remove your own ADMIN role; ask another administrator.",
        "CANNOT_REMOVE_OWN_ADMIN",
      );
    }
    const current = await this.deps.users.readLatest(target);
    if (!current || current.status !== "active") throw new NotFoundError("No user has this id.");

    const losesAdmin = current.roles.includes(Role.ADMIN) && !unique.includes(Role.ADMIN);
    if (losesAdmin) await this.deps.roster.remove(target, "roles");
    const updated = await this.deps.users.update(target, (state) =>
      state && state.status === "active"
        ? { next: { ...state, roles: unique }, result: state }
        : { result: undefined },
    );
    if (!updated) throw new NotFoundError("No user has this id.");
    if (unique.includes(Role.ADMIN) && !updated.disabledAt) await this.deps.roster.add(target);
    this.deps.events.emit({
      type: "roles_changed",
      userId: target.toHexString(),
      roles: unique,
      by: callerId?.toHexString() ?? "system",
    });
    return withoutPasswordHash({ ...updated, roles: unique });
  }

  /**
   * The account is inserted first (pending), then given its username and its email, then made
   * active. A crash between any two writes leaves a pending account that cannot sign in; its
   * names go to the same signup tried again at once, to anyone else once it is older than a
   * signup can take (account-names.ts), and the sweep deletes it.
   */
  private async create(fields: AccountFields, roles: Role[]): Promise<UserRecord> {
    const { names, users, passwords, clock } = this.deps;
    const key = usernameKey(fields.username);
    const email = normalizeEmail(fields.email);
    // A look first spares the bcrypt cost for the common case; the claims below are what
    // actually decide under concurrency.
    const signup = { usernameKey: key, email };
    if (!(await names.isAvailable("username", key, signup))) throw usernameTaken();
    if (!(await names.isAvailable("email", email, signup))) throw emailTaken();
    const passwordHash = await passwords.hash(fields.password);

    const user: UserState = {
      _id: new Types.ObjectId(),
      username: fields.username,
      usernameKey: key,
      email,
      passwordHash,
      roles,
      createdAt: new Date(clock.nowMs()),
      status: "pending",
      emailVerifiedAt: null,
      disabledAt: null,
      disabledReason: null,
      passwordChangedAt: null,
    };
    await users.insert(user);
    const claimant = { ...signup, userId: user._id };
    if ((await names.claim("username", key, user._id, claimant)) === "taken") {
      await this.abandon(user, []);
      throw usernameTaken();
    }
    if ((await names.claim("email", email, user._id, claimant)) === "taken") {
      await this.abandon(user, ["username"]);
      throw emailTaken();
    }
    const active = await users.update(user._id, (state) =>
      state?.status === "pending"
        ? { next: { ...state, status: "active" as const }, result: true }
        : { result: false },
    );
    // Only when this signup stalled for minutes and another took its names meanwhile.
    if (!active) throw usernameTaken();
    if (roles.includes(Role.ADMIN)) await this.deps.roster.add(user._id);
    return withoutPasswordHash({ ...user, status: "active" });
  }

  /** Undoes a signup that lost one of its names: the names it got, then the account. */
  private async abandon(user: UserState, claimed: ("username" | "email")[]): Promise<void> {
    for (const kind of claimed) {
      await this.deps.names.release(
        kind,
        kind === "username" ? user.usernameKey : user.email,
        user._id,
      );
    }
    await this.deps.users.update(user._id, () => ({ next: "deleted" as const, result: undefined }));
  }
}
