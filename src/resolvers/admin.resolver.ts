import { Arg, Authorized, Ctx, ID, Int, Mutation, Query, Resolver } from "type-graphql";
import { signedIn } from "../auth/caller-identity";
import type { Context } from "../context";
import { Role } from "../entities/role";
import { User, type UserRecord } from "../entities/user.entity";
import type { UserPage } from "../services/admin.service";
import { UserConnection } from "./user-connection.type";

/** User administration: ADMIN only. */
@Resolver()
export class AdminResolver {
  @Authorized(Role.ADMIN)
  @Query(() => UserConnection, {
    description:
      "Accounts, oldest first, `first` (at most 100) per page after the cursor `after`; `search` matches the start of a username or email, in any letter case.",
  })
  users(
    @Ctx() { services }: Context,
    @Arg("first", () => Int, { defaultValue: 20 }) first: number,
    @Arg("after", () => String, { nullable: true }) after?: string | null,
    @Arg("search", () => String, { nullable: true }) search?: string | null,
    @Arg("role", () => Role, { nullable: true }) role?: Role | null,
    @Arg("disabled", () => Boolean, { nullable: true }) disabled?: boolean | null,
  ): Promise<UserPage> {
    return services.admin.listUsers({ first, after, search, role, disabled });
  }

  @Authorized(Role.ADMIN)
  @Query(() => User, { nullable: true, description: "One account; null when no user has this id." })
  user(@Arg("id", () => ID) id: string, @Ctx() { services }: Context): Promise<UserRecord | null> {
    return services.admin.getUser(id);
  }

  @Authorized(Role.ADMIN)
  @Mutation(() => User, {
    description:
      "Disables an account: it can no longer sign in (ACCOUNT_DISABLED, after a correct password) or refresh, and its sessions end. Not your own, nor the last administrator.",
  })
  disableUser(
    @Arg("id", () => ID) id: string,
    @Arg("reason", () => String, { nullable: true }) reason: string | null | undefined,
    @Ctx() { caller, services }: Context,
  ): Promise<UserRecord> {
    return services.admin.disable(signedIn(caller).userId, id, reason ?? null);
  }

  @Authorized(Role.ADMIN)
  @Mutation(() => User, { description: "Lets a disabled account sign in again." })
  enableUser(@Arg("id", () => ID) id: string, @Ctx() { caller, services }: Context) {
    return services.admin.enable(signedIn(caller).userId, id);
  }

  @Authorized(Role.ADMIN)
  @Mutation(() => Int, { description: "Ends every session of an account; returns how many." })
  revokeUserSessions(@Arg("id", () => ID) id: string, @Ctx() { caller, services }: Context) {
    return services.admin.revokeSessions(signedIn(caller).userId, id);
  }

  @Authorized(Role.ADMIN)
  @Mutation(() => Boolean, {
    description: "Deletes an account and everything kept about it. Not the last administrator.",
  })
  deleteUser(@Arg("id", () => ID) id: string, @Ctx() { caller, services }: Context) {
    return services.admin.deleteUser(signedIn(caller).userId, id);
  }
}
