import { GraphQLError } from "graphql";
import { Arg, Authorized, Ctx, Mutation, Resolver } from "type-graphql";
import type { Context } from "../context";
import { unauthenticated } from "../errors";
import type { AuthResult } from "../services/auth.service";
import { AuthPayload } from "./auth-payload.type";
import { SigninInput } from "./signin.input";

/**
 * In cookie mode the refresh token goes into an httpOnly cookie and is left out of the body,
 * so no script on the page ever sees it.
 */
function deliver(result: AuthResult, context: Context): AuthPayload {
  context.identified.userId = result.user.id;
  if (context.refreshTokenTransport === "body") return result;
  context.setRefreshTokenCookie({
    value: result.refreshToken,
    expiresAt: result.refreshTokenExpiresAt,
  });
  return { ...result, refreshToken: null };
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
      context.clientIp,
    );
    return deliver(result, context);
  }

  @Mutation(() => AuthPayload, {
    description:
      "Rotates a refresh token: the given one (or, when omitted, the refresh token cookie) is spent and a new pair is returned.",
  })
  async refreshToken(
    @Arg("refreshToken", () => String, { nullable: true }) refreshToken: string | null | undefined,
    @Ctx() context: Context,
  ): Promise<AuthPayload> {
    const token = refreshToken ?? context.refreshTokenCookie;
    if (!token) throw unauthenticated("REFRESH_TOKEN_INVALID");
    try {
      return deliver(await context.services.auth.refresh(token), context);
    } catch (error) {
      // A cookie that can no longer be used would only be sent again and again.
      if (!refreshToken && error instanceof GraphQLError) context.setRefreshTokenCookie(null);
      throw error;
    }
  }

  @Mutation(() => Boolean, {
    description:
      "Ends the session the refresh token (or, when omitted, the refresh token cookie) belongs to, and clears the cookie.",
  })
  async signout(
    @Arg("refreshToken", () => String, { nullable: true }) refreshToken: string | null | undefined,
    @Ctx() context: Context,
  ): Promise<boolean> {
    const token = refreshToken ?? context.refreshTokenCookie;
    if (context.refreshTokenCookie) context.setRefreshTokenCookie(null);
    if (!token) throw unauthenticated("REFRESH_TOKEN_INVALID");
    return context.services.auth.signout(token);
  }

  @Authorized()
  @Mutation(() => Boolean, {
    description: "Ends every session of the signed-in user, and clears the refresh token cookie.",
  })
  async signoutAll(@Ctx() context: Context): Promise<boolean> {
    const { caller } = context;
    if (caller.kind !== "authenticated") throw unauthenticated();
    const done = await context.services.auth.signoutAll(caller.claims.userId);
    if (context.refreshTokenCookie) context.setRefreshTokenCookie(null);
    return done;
  }
}
