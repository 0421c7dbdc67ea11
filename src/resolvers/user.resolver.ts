import { Arg, Authorized, Ctx, ID, Mutation, Query, Resolver } from "type-graphql";
import type { Context } from "../context";
import { Role } from "../entities/role";
import { User } from "../entities/user.entity";
import { unauthenticated } from "../errors";
import type { UserDocument } from "../services/user.service";
import { SignupInput } from "./signup.input";

@Resolver(() => User)
export class UserResolver {
  @Query(() => User, {
    nullable: true,
    description:
      "The signed-in user; null without a token. A bad or expired token is an error, so clients know to refresh.",
  })
  async me(@Ctx() { caller, services }: Context): Promise<UserDocument | null> {
    if (caller.kind === "anonymous") return null;
    if (caller.kind === "invalid-token") throw unauthenticated(caller.reason);
    return services.users.findById(caller.claims.userId);
  }

  @Mutation(() => User, {
    description: "Creates an account with role USER (any roles when an ADMIN calls).",
  })
  signup(
    @Arg("input", () => SignupInput) input: SignupInput,
    @Ctx() { caller, services }: Context,
  ): Promise<UserDocument> {
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
  ): Promise<UserDocument> {
    return services.users.setRoles(caller, userId, roles);
  }
}
