import type { Types } from "mongoose";
import type { OutboxMessage } from "../entities/mail.entity";
import type { AccountNames } from "../services/account-names";
import { normalizeEmail } from "../services/account-rules";
import type { EmailTokens } from "../services/email-tokens";
import type { UserState, UserStore } from "../services/user-store";
import type { AppLinks } from "./app-links";
import { passwordChangedMail, passwordResetMail, verificationMail } from "./templates";

export type Composed =
  | {
      readonly to: string;
      readonly userId: Types.ObjectId;
      readonly subject: string;
      readonly text: string;
      readonly html: string;
      /** The link with a token, for the development log line. */
      readonly link?: string;
    }
  /** Nothing to send, and why (for the mail log). */
  | { readonly drop: string };

/**
 * Turns a queued message into the mail to send, at the moment it is sent: finds the account
 * (by id, or by the address a signed-out client typed), decides whether there is anything to
 * send, and makes the token. This is where "is there an account with this address?" is
 * answered, in the background, long after the request that asked got its `true`.
 */
export class MailComposer {
  constructor(
    private readonly deps: {
      readonly users: UserStore;
      readonly names: AccountNames;
      readonly tokens: EmailTokens;
      readonly links: AppLinks;
      readonly ttlSeconds: { readonly verification: number; readonly passwordReset: number };
    },
  ) {}

  async compose(message: OutboxMessage): Promise<Composed> {
    const user = await this.recipient(message);
    if (!user) return { drop: "no active account" };
    const { tokens, links, ttlSeconds } = this.deps;
    switch (message.kind) {
      case "verify-email": {
        if (user.emailVerifiedAt) return { drop: "already verified" };
        if (user.disabledAt) return { drop: "account disabled" };
        const { token } = await tokens.issue("verify-email", user._id, user.email);
        const link = links.withToken("verifyEmail", token);
        const mail = verificationMail({
          username: user.username,
          link,
          token,
          ttlSeconds: ttlSeconds.verification,
        });
        return { to: user.email, userId: user._id, ...mail, link };
      }
      case "password-reset": {
        // A disabled account could not use the new password; its owner learns nothing here.
        if (user.disabledAt) return { drop: "account disabled" };
        const { token } = await tokens.issue("password-reset", user._id, user.email);
        const link = links.withToken("resetPassword", token);
        const mail = passwordResetMail({
          username: user.username,
          link,
          token,
          ttlSeconds: ttlSeconds.passwordReset,
        });
        return { to: user.email, userId: user._id, ...mail, link };
      }
      case "password-changed": {
        const mail = passwordChangedMail({
          username: user.username,
          how: message.how ?? "change",
          at: message.createdAt,
          forgotLink: links.page("forgotPassword"),
        });
        return { to: user.email, userId: user._id, ...mail };
      }
    }
  }

  /** The active account the message is for; by address, only the account that has it now. */
  private async recipient(message: OutboxMessage): Promise<UserState | undefined> {
    const { users, names } = this.deps;
    if (message.userId) {
      const user = await users.readLatest(message.userId);
      return user?.status === "active" ? user : undefined;
    }
    if (!message.email) return undefined;
    const email = normalizeEmail(message.email);
    const ownerId = await names.ownerOf("email", email);
    if (!ownerId) return undefined;
    const user = await users.readLatest(ownerId);
    return user?.status === "active" && user.email === email ? user : undefined;
  }
}
