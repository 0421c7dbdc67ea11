import { Arg, Authorized, Ctx, Mutation, Resolver } from "type-graphql";
import type { Context } from "../context";
import { unauthenticated } from "../errors";
import type { AuthResult } from "../services/auth.service";
import { AuthPayload } from "./auth-payload.type";
import { SigninInput } from "./signin.input";

@Resolver()
export class AuthResolver {
  @Mutation(() => AuthPayload, {
    description: "Starts a session: an access token and a refresh token.",
  })
  signin(
    @Arg("input", () => SigninInput) input: SigninInput,
    @Ctx() { services, clientIp }: Context,
  ): Promise<AuthResult> {
    return services.auth.signin(input.username, input.password, clientIp);
  }

  @Mutation(() => AuthPayload, {
    description: "Rotates a refresh token: the given one is spent, a new pair is returned.",
  })
  refreshToken(
    @Arg("refreshToken") refreshToken: string,
    @Ctx() { services }: Context,
  ): Promise<AuthResult> {
    return services.auth.refresh(refreshToken);
  }

  @Mutation(() => Boolean, { description: "Ends the session the refresh token belongs to." })
  signout(
    @Arg("refreshToken") refreshToken: string,
    @Ctx() { services }: Context,
  ): Promise<boolean> {
    return services.auth.signout(refreshToken);
  }

  @Authorized()
  @Mutation(() => Boolean, { description: "Ends every session of the signed-in user." })
  signoutAll(@Ctx() { caller, services }: Context): Promise<boolean> {
    if (caller.kind !== "authenticated") throw unauthenticated();
    return services.auth.signoutAll(caller.claims.userId);
  }
}
