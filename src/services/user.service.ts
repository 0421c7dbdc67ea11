import { isValidObjectId, type HydratedDocument } from "mongoose";
import type { PasswordHasher } from "../auth/passwords";
import type { Caller } from "../context";
import { Role } from "../entities/role";
import { UserModel, type User } from "../entities/user.entity";
import { badInput, forbidden, notFound } from "../errors";
import {
  assertValidAccount,
  normalizeEmail,
  usernameKey,
  type AccountFields,
} from "./signup-rules";
import { isDuplicateKeyError } from "../db/mongo-errors";

export type UserDocument = HydratedDocument<User>;

export interface SignupRequest extends AccountFields {
  roles?: Role[] | null;
}

export class UserService {
  constructor(private readonly passwords: PasswordHasher) {}

  findById(id: string): Promise<UserDocument | null> {
    if (!isValidObjectId(id)) return Promise.resolve(null);
    return UserModel.findById(id).exec();
  }

  /**
   * Creates an account. Roles are honoured only for an ADMIN caller: self-service signup as
   * admin was the tutorial's worst hole.
   */
  async signup(request: SignupRequest, caller: Caller): Promise<UserDocument> {
    let roles: Role[] = [Role.USER];
    if (request.roles !== undefined && request.roles !== null) {
      const isAdmin = caller.kind === "authenticated" && caller.claims.roles.includes(Role.ADMIN);
      if (!isAdmin) throw forbidden("Only an administrator can choose roles at signup.");
      roles = [...new Set(request.roles)];
      if (roles.length === 0)
        throw badInput("roles", "Give at least one role, or leave roles out.");
    }
    assertValidAccount(request);
    return this.create(request, roles);
  }

  /**
   * Creates the admin named by ADMIN_USERNAME / ADMIN_EMAIL / ADMIN_PASSWORD when no account
   * has that username. An existing account is left exactly as it is (its password is not reset).
   */
  async ensureInitialAdmin(admin: AccountFields): Promise<"created" | "exists"> {
    assertValidAccount(admin);
    const existing = await UserModel.exists({ usernameKey: usernameKey(admin.username) });
    if (existing) return "exists";
    try {
      await this.create(admin, [Role.USER, Role.MODERATOR, Role.ADMIN]);
      return "created";
    } catch (error) {
      // Another instance starting at the same moment created it first.
      if (isTakenError(error)) return "exists";
      throw error;
    }
  }

  async setRoles(caller: Caller, userId: string, roles: Role[]): Promise<UserDocument> {
    if (!isValidObjectId(userId) || !/^[0-9a-f]{24}$/i.test(userId)) {
      throw badInput("userId", "userId is not a valid user id.");
    }
    const unique = [...new Set(roles)];
    if (unique.length === 0) throw badInput("roles", "A user needs at least one role.");
    if (
      caller.kind === "authenticated" &&
      caller.claims.userId === userId &&
      !unique.includes(Role.ADMIN)
    ) {
      // Stops the last admin from locking everyone out by accident.
      throw badInput(
        "roles",
        "You cannot remove your own ADMIN role; ask another administrator.",
        "CANNOT_REMOVE_OWN_ADMIN",
      );
    }
    // updateOne + read rather than findByIdAndUpdate: the model's `select: false` on the hash
    // becomes a findAndModify projection, which not every MongoDB-compatible server supports.
    const { matchedCount } = await UserModel.updateOne(
      { _id: userId },
      { $set: { roles: unique } },
    ).exec();
    const updated = matchedCount > 0 ? await UserModel.findById(userId).exec() : null;
    if (!updated) throw notFound("No user has this id.");
    return updated;
  }

  private async create(fields: AccountFields, roles: Role[]): Promise<UserDocument> {
    const key = usernameKey(fields.username);
    const email = normalizeEmail(fields.email);
    // A lookup first spares the bcrypt cost for the common case; the unique indexes below
    // are what actually guarantee uniqueness under concurrency.
    await this.assertAvailable(key, email);
    const passwordHash = await this.passwords.hash(fields.password);
    try {
      return await UserModel.create({
        username: fields.username,
        usernameKey: key,
        email,
        passwordHash,
        roles,
      });
    } catch (error) {
      if (!isDuplicateKeyError(error)) throw error;
      await this.assertAvailable(key, email);
      throw badInput("username", "This username is already taken.", "USERNAME_TAKEN");
    }
  }

  private async assertAvailable(key: string, email: string): Promise<void> {
    if (await UserModel.exists({ usernameKey: key })) {
      throw badInput("username", "This username is already taken.", "USERNAME_TAKEN");
    }
    if (await UserModel.exists({ email })) {
      throw badInput("email", "This email is already registered.", "EMAIL_TAKEN");
    }
  }
}

function isTakenError(error: unknown): boolean {
  if (isDuplicateKeyError(error)) return true;
  const reason = (error as { extensions?: { reason?: unknown } } | null)?.extensions?.reason;
  return reason === "USERNAME_TAKEN" || reason === "EMAIL_TAKEN";
}
