import {
  Arg,
  Authorized,
  Ctx,
  FieldResolver,
  ID,
  Mutation,
  Query,
  Resolver,
  Root,
} from "type-graphql";
import type { Context } from "../context";
import { Role } from "../entities/role";
import { User, type UserRecord } from "../entities/user.entity";
import { signedIn } from "../auth/caller-identity";
import { AuthenticationError } from "../errors";
import { Session } from "./session.type";
import { SignupInput } from "./signup.input";

@Resolver(() => User)
export class UserResolver {
  @FieldResolver(() => Boolean, {
    description: "Whether the owner proved the address (verification link or password reset).",
  })
  emailVerified(@Root() user: UserRecord): boolean {
    return Boolean(user.emailVerifiedAt);
  }

  @FieldResolver(() => Boolean, {
    description: "A disabled account cannot sign in or refresh; an administrator can enable it.",
  })
  disabled(@Root() user: UserRecord): boolean {
    return Boolean(user.disabledAt);
  }

  @Authorized(Role.ADMIN)
  @FieldResolver(() => [Session], {
    nullable: true,
    description: "The account's active sessions, newest first (administrators only).",
  })
  async sessions(@Root() user: UserRecord, @Ctx() { caller, services }: Context) {
    const current = caller.kind === "authenticated" ? caller.claims.sessionId : "";
    const sessions = await services.admin.sessionsOf(user._id);
    return sessions.map((session) => ({ ...session, current: session.id === current }));
  }

  @Authorized()
  @Mutation(() => Boolean, {
    description:
      "Deletes the caller's account and everything kept about it, after checking the password (under the signin throttle). Its refresh tokens stop working at once; access tokens already issued live out their TTL. The last administrator cannot.",
  })
  async deleteAccount(
    @Arg("password") password: string,
    @Ctx() { caller, services, client, refreshTokens }: Context,
  ): Promise<boolean> {
    await services.accountRemoval.removeOwn(signedIn(caller).userId, password, client);
    if (refreshTokens.hasCookie()) refreshTokens.clearCookie();
    return true;
  }

  @FieldResolver(() => Date, { nullable: true, description: "The last successful signin." })
  lastSigninAt(@Root() user: UserRecord, @Ctx() { services }: Context): Promise<Date | null> {
    return services.users.lastSigninAt(user._id);
  }

  @Query(() => User, {
    nullable: true,
    description:
      "The signed-in user; null without a token. A bad or expired token is an error, so clients know to refresh.",
  })
  async me(@Ctx() { caller, services }: Context): Promise<UserRecord | null> {
    if (caller.kind === "anonymous") return null;
    if (caller.kind === "invalid-token") throw new AuthenticationError(caller.reason);
    return services.users.findById(caller.claims.userId);
  }

  @Mutation(() => User, {
    description: "Creates an account with role USER (any roles when an ADMIN calls).",
  })
  signup(
    @Arg("input", () => SignupInput) input: SignupInput,
    @Ctx() { caller, services }: Context,
  ): Promise<UserRecord> {
    return services.users.signup(input, caller);
  }

  @Authorized(Role.ADMIN)
  @Mutation(() => User, {
    description: "Replaces a user's roles. Takes effect at their next refresh.",
  })
  setUserRoles(
    @Arg("userId", () => ID) userId: string,
    @Arg("roles", () => [Role]) roles: Role[],
    @Ctx() { caller, services }: Context,
  ): Promise<UserRecord> {
    return services.users.setRoles(caller, userId, roles);
  }
}
