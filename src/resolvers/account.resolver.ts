import { Arg, Authorized, Ctx, Mutation, Resolver } from "type-graphql";
import type { Context } from "../context";
import { User, type UserRecord } from "../entities/user.entity";
import { AuthPayload } from "./auth-payload.type";

/**
 * Proving an email address and getting back into an account. The rules live in
 * src/services/account-recovery.service.ts; mail goes out through the outbox (src/mail/).
 */
@Resolver()
export class AccountResolver {
  @Mutation(() => User, {
    description:
      "Spends the token of a verification mail (single use; only the newest one sent works) and marks the address verified. EMAIL_TOKEN_INVALID when unknown, used or superseded; EMAIL_TOKEN_EXPIRED past EMAIL_VERIFICATION_TTL.",
  })
  verifyEmail(
    @Arg("token", () => String) token: string,
    @Ctx() { services }: Context,
  ): Promise<UserRecord> {
    return services.recovery.verifyEmail(token);
  }

  @Authorized()
  @Mutation(() => Boolean, {
    description:
      "Sends the signed-in user a new verification mail (the previous link stops working). BAD_USER_INPUT ALREADY_VERIFIED when verified; TOO_MANY_REQUESTS past 3 an hour.",
  })
  resendVerificationEmail(@Ctx() { caller, services }: Context): Promise<boolean> {
    return services.recovery.resendVerificationEmail(caller);
  }

  @Mutation(() => Boolean, {
    description:
      "Sends a new verification mail to this address if an unverified account has it, without signing in (after signin answered EMAIL_NOT_VERIFIED). Always true: the answer never tells whether an account exists. TOO_MANY_REQUESTS past 3 an hour per address or 30 per client.",
  })
  requestVerificationEmail(
    @Arg("email", () => String) email: string,
    @Ctx() { client, services }: Context,
  ): Promise<boolean> {
    return services.recovery.requestVerificationEmail(email, client);
  }

  @Mutation(() => Boolean, {
    description:
      "Sends a password reset link to this address if an account has it. Always true, after the same work for every address: the answer never tells whether an account exists. TOO_MANY_REQUESTS past 3 an hour per address or 30 per client.",
  })
  requestPasswordReset(
    @Arg("email", () => String) email: string,
    @Ctx() { client, services }: Context,
  ): Promise<boolean> {
    return services.recovery.requestPasswordReset(email, client);
  }

  @Mutation(() => Boolean, {
    description:
      "Sets a new password with the token of a reset mail (single use; only the newest one sent works; valid PASSWORD_RESET_TTL). Ends every session of the account, lifts its signin lockouts, marks the address verified and mails a notice. Same password rules as signup.",
  })
  resetPassword(
    @Arg("token", () => String) token: string,
    @Arg("newPassword", () => String) newPassword: string,
    @Ctx() { services }: Context,
  ): Promise<boolean> {
    return services.recovery.resetPassword(token, newPassword);
  }

  @Authorized()
  @Mutation(() => AuthPayload, {
    description:
      "Changes the signed-in user's password. A wrong current password is INVALID_CREDENTIALS and counts as a failed signin. Ends every session of the account, this one too, and returns the first pair of a new session (the refresh token in the cookie when the request asks for cookie transport). Mails a notice.",
  })
  async changePassword(
    @Arg("currentPassword", () => String) currentPassword: string,
    @Arg("newPassword", () => String) newPassword: string,
    @Ctx() context: Context,
  ): Promise<AuthPayload> {
    const result = await context.services.recovery.changePassword(
      context.caller,
      currentPassword,
      newPassword,
      context.client,
    );
    context.identified.userId = result.user._id.toHexString();
    return {
      ...result,
      // Like signin: the header x-refresh-token-transport decides where the token goes.
      refreshToken: context.refreshTokens.deliver(
        result.refreshToken,
        result.refreshTokenExpiresAt,
        "signin",
      ),
    };
  }
}
