import { Arg, Authorized, Ctx, Mutation, Resolver } from "type-graphql";
import { signedIn } from "../auth/caller-identity";
import type { TokenSource } from "../auth/refresh-token-transport";
import type { Context } from "../context";
import { AuthenticationError } from "../errors";
import type { AuthResult } from "../services/auth.service";
import { AuthPayload } from "./auth-payload.type";
import { SigninInput } from "./signin.input";

function payload(
  result: AuthResult,
  context: Context,
  cameFrom: TokenSource | "signin",
): AuthPayload {
  context.identified.userId = result.user._id.toHexString();
  return {
    ...result,
    refreshToken: context.refreshTokens.deliver(
      result.refreshToken,
      result.refreshTokenExpiresAt,
      cameFrom,
    ),
  };
}

@Resolver()
export class AuthResolver {
  @Mutation(() => AuthPayload, {
    description: "Starts a session: an access token and a refresh token.",
  })
  async signin(
    @Arg("input", () => SigninInput) input: SigninInput,
    @Ctx() context: Context,
  ): Promise<AuthPayload> {
    const result = await context.services.auth.signin(
      input.username,
      input.password,
      context.client,
    );
    return payload(result, context, "signin");
  }

  @Mutation(() => AuthPayload, {
    description:
      "Rotates a refresh token: the given one (or, when omitted, the refresh token cookie) is spent and a new pair is returned. A token read from the cookie is only ever returned in the cookie.",
  })
  async refreshToken(
    @Arg("refreshToken", () => String, { nullable: true }) refreshToken: string | null | undefined,
    @Ctx() context: Context,
  ): Promise<AuthPayload> {
    const presented = context.refreshTokens.presented(refreshToken);
    try {
      const result = await context.services.auth.refresh(presented.token, context.client);
      return payload(result, context, presented.source);
    } catch (error) {
      // A cookie that can no longer be used would only be sent again and again.
      if (presented.source === "cookie" && error instanceof AuthenticationError) {
        context.refreshTokens.clearCookie();
      }
      throw error;
    }
  }

  @Mutation(() => Boolean, {
    description:
      "Ends the session the refresh token (or, when omitted, the refresh token cookie) belongs to. Clears the cookie when its session is the one that ended, or when it is no longer valid.",
  })
  async signout(
    @Arg("refreshToken", () => String, { nullable: true }) refreshToken: string | null | undefined,
    @Ctx() context: Context,
  ): Promise<boolean> {
    const transport = context.refreshTokens;
    const presented = transport.presented(refreshToken);
    const { auth } = context.services;
    let ended: { sessionId: string };
    try {
      ended = await auth.signout(presented.token);
    } catch (error) {
      if (presented.source === "cookie" && error instanceof AuthenticationError) {
        transport.clearCookie();
      }
      throw error;
    }
    const cookie = transport.cookieToken();
    if (presented.source === "cookie") {
      transport.clearCookie();
    } else if (cookie !== undefined) {
      const cookieSession = await auth.liveSessionOf(cookie);
      if (cookieSession === undefined || cookieSession === ended.sessionId) transport.clearCookie();
    }
    return true;
  }

  @Authorized()
  @Mutation(() => Boolean, {
    description: "Ends every session of the signed-in user, and clears the refresh token cookie.",
  })
  async signoutAll(@Ctx() context: Context): Promise<boolean> {
    await context.services.auth.signoutAll(signedIn(context.caller).userId);
    if (context.refreshTokens.hasCookie()) context.refreshTokens.clearCookie();
    return true;
  }
}
