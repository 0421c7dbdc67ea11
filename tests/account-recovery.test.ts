import mongoose from "mongoose";
import {
  ChangePasswordDocument,
  MyVerificationDocument,
  RefreshTokenDocument,
  RequestPasswordResetDocument,
  RequestVerificationEmailDocument,
  ResendVerificationEmailDocument,
  ResetPasswordDocument,
  SigninDocument,
  SignupDocument,
  VerifyEmailDocument,
} from "./generated/graphql";
import { ManualClock } from "./setup/clock";
import { expectData, expectError, inBody, newAccount, signin, useTestServer } from "./setup/kit";
import {
  deliverMail,
  fromNewClient,
  TEST_APP_URL,
  tokenOf,
  useMailServer,
  type MailServerContext,
} from "./setup/mailbox";
import type { TestServer } from "./setup/test-server";

const HOUR = 3_600;

/** Signs up a new account and returns it with its verification mail. */
async function signedUp(ctx: MailServerContext) {
  const account = newAccount("mail");
  expectData(await ctx.server.execute(SignupDocument, { input: account }));
  await deliverMail(ctx.server);
  const mail = await ctx.mailbox.waitFor(account.email);
  return { account, mail };
}

/** Asks for a reset of `email` from a client address of its own, and waits for the mail. */
async function resetMail(ctx: MailServerContext, email: string) {
  const n = ctx.mailbox.to(email).length + 1;
  expect(
    expectData(await ctx.server.execute(RequestPasswordResetDocument, { email }, fromNewClient()))
      .requestPasswordReset,
  ).toBe(true);
  await deliverMail(ctx.server);
  return ctx.mailbox.waitFor(email, n);
}

function resetMails(ctx: MailServerContext, email: string) {
  return ctx.mailbox.to(email).filter((m) => m.subject.startsWith("Reset your"));
}

const verify = (server: TestServer, token: string) =>
  server.execute(VerifyEmailDocument, { token });
const reset = (server: TestServer, token: string, newPassword: string) =>
  server.execute(ResetPasswordDocument, { token, newPassword });
const signinWith = (server: TestServer, username: string, password: string) =>
  server.execute(SigninDocument, { input: { username, password } });

describe("account recovery by email", () => {
  const clock = new ManualClock();
  const ctx = useMailServer({ SIGNIN_MAX_FAILURES: "3" }, { clock });

  describe("verifying the address", () => {
    it("signup mails a link to APP_URL with a single-use token that verifies the address", async () => {
      const { account, mail } = await signedUp(ctx);
      expect(mail.to).toEqual([account.email]);
      expect(mail.subject).toBe("Verify your email address for graphql-jwt-auth");
      expect(mail.from).toContain("no-reply@localhost");
      const token = tokenOf(mail);
      expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(mail.links).toContain(`${TEST_APP_URL}/verify-email?token=${token}`);
      // The token is also in the text, for clients that call the API themselves.
      expect(mail.text).toContain(`verifyEmail(token: "${token}")`);
      expect(mail.html).toContain(`href="${TEST_APP_URL}/verify-email?token=${token}"`);

      const me = await signin(ctx.server, account.username, account.password);
      const before = expectData(
        await ctx.server.execute(MyVerificationDocument, {}, { token: me.accessToken }),
      ).me;
      expect(before).toMatchObject({ emailVerified: false, emailVerifiedAt: null });

      const verified = expectData(await verify(ctx.server, token)).verifyEmail;
      expect(verified).toMatchObject({
        username: account.username,
        email: account.email,
        emailVerified: true,
      });
      expect(new Date(verified.emailVerifiedAt!).getTime()).toBe(clock.nowMs());

      // Single use: the same link again is refused, and the account stays verified.
      expectError(await verify(ctx.server, token), "UNAUTHENTICATED", "EMAIL_TOKEN_INVALID");
      const after = expectData(
        await ctx.server.execute(MyVerificationDocument, {}, { token: me.accessToken }),
      ).me;
      expect(after?.emailVerified).toBe(true);
    });

    it("a verification link expires after EMAIL_VERIFICATION_TTL (24 hours)", async () => {
      const { mail } = await signedUp(ctx);
      clock.advance(24 * HOUR + 1);
      expectError(
        await verify(ctx.server, tokenOf(mail)),
        "UNAUTHENTICATED",
        "EMAIL_TOKEN_EXPIRED",
      );
    });

    it("refuses tokens it never issued, and reset tokens, with EMAIL_TOKEN_INVALID", async () => {
      const { account } = await signedUp(ctx);
      const resetToken = tokenOf(await resetMail(ctx, account.email));
      const forged = ["", "x", "A".repeat(43), "A".repeat(44), `${"A".repeat(42)}=`, resetToken];
      for (const token of forged) {
        expectError(await verify(ctx.server, token), "UNAUTHENTICATED", "EMAIL_TOKEN_INVALID");
      }
    });

    it("resendVerificationEmail mails a new link that replaces the old one, then says ALREADY_VERIFIED", async () => {
      const { account, mail: first } = await signedUp(ctx);
      const me = await signin(ctx.server, account.username, account.password);
      expectError(await ctx.server.execute(ResendVerificationEmailDocument), "UNAUTHENTICATED");

      const resent = await ctx.server.execute(
        ResendVerificationEmailDocument,
        {},
        { token: me.accessToken },
      );
      expect(expectData(resent).resendVerificationEmail).toBe(true);
      await deliverMail(ctx.server);
      const second = await ctx.mailbox.waitFor(account.email, 2);
      expect(second.subject).toBe(first.subject);
      expect(tokenOf(second)).not.toBe(tokenOf(first));

      // Only the newest link works.
      expectError(
        await verify(ctx.server, tokenOf(first)),
        "UNAUTHENTICATED",
        "EMAIL_TOKEN_INVALID",
      );
      expect(expectData(await verify(ctx.server, tokenOf(second))).verifyEmail.emailVerified).toBe(
        true,
      );
      expectError(
        await ctx.server.execute(ResendVerificationEmailDocument, {}, { token: me.accessToken }),
        "BAD_USER_INPUT",
        "ALREADY_VERIFIED",
      );
    });

    it("resendVerificationEmail is throttled: 3 an hour per account", async () => {
      const { account } = await signedUp(ctx);
      const me = await signin(ctx.server, account.username, account.password);
      const resend = () =>
        ctx.server.execute(ResendVerificationEmailDocument, {}, { token: me.accessToken });
      for (let i = 0; i < 3; i++)
        expect(expectData(await resend()).resendVerificationEmail).toBe(true);
      const refused = expectError(await resend(), "TOO_MANY_REQUESTS", "TOO_MANY_REQUESTS");
      expect(refused.extensions?.retryAfter).toBeGreaterThan(HOUR - 10);
      expect(refused.extensions?.retryAfter).toBeLessThanOrEqual(HOUR);
      clock.advance(HOUR);
      const later = await signin(ctx.server, account.username, account.password);
      const again = await ctx.server.execute(
        ResendVerificationEmailDocument,
        {},
        { token: later.accessToken },
      );
      expect(expectData(again).resendVerificationEmail).toBe(true);
    });
  });

  describe("resetting a forgotten password", () => {
    it("mails a reset link; the new password works, the old one does not, and every session ends", async () => {
      const { account } = await signedUp(ctx);
      // Signed in elsewhere, twice: both sessions must end.
      const laptop = await signin(ctx.server, account.username, account.password);
      const phone = await signin(ctx.server, account.username, account.password);

      const mail = await resetMail(ctx, account.email);
      expect(mail.subject).toBe("Reset your graphql-jwt-auth password");
      expect(mail.to).toEqual([account.email]);
      const token = tokenOf(mail);
      expect(mail.links).toContain(`${TEST_APP_URL}/reset-password?token=${token}`);
      expect(mail.text).toContain("30 minutes");

      const newPassword = "a-brand-new-passphrase-7";
      expect(expectData(await reset(ctx.server, token, newPassword)).resetPassword).toBe(true);

      expectError(
        await signinWith(ctx.server, account.username, account.password),
        "UNAUTHENTICATED",
        "INVALID_CREDENTIALS",
      );
      const fresh = await signin(ctx.server, account.username, newPassword);
      for (const ended of [laptop, phone]) {
        expectError(
          await ctx.server.execute(RefreshTokenDocument, { refreshToken: ended.refreshToken }),
          "UNAUTHENTICATED",
          "REFRESH_TOKEN_INVALID",
        );
      }
      expect(
        expectData(
          await ctx.server.execute(MyVerificationDocument, {}, { token: fresh.accessToken }),
        ).me?.emailVerified,
      ).toBe(true);

      // Single use, and the owner is told.
      expectError(
        await reset(ctx.server, token, "another-passphrase-8"),
        "UNAUTHENTICATED",
        "EMAIL_TOKEN_INVALID",
      );
      await deliverMail(ctx.server);
      const notice = await ctx.mailbox.waitFor(account.email, 3);
      expect(notice.subject).toBe("Your graphql-jwt-auth password was changed");
      expect(notice.text).toContain("reset with a link we emailed you");
      expect(notice.links).toEqual([`${TEST_APP_URL}/forgot-password`]);
    });

    it("a reset link expires after PASSWORD_RESET_TTL (30 minutes)", async () => {
      const { account } = await signedUp(ctx);
      const token = tokenOf(await resetMail(ctx, account.email));
      clock.advance(30 * 60 + 1);
      expectError(
        await reset(ctx.server, token, "late-passphrase-1"),
        "UNAUTHENTICATED",
        "EMAIL_TOKEN_EXPIRED",
      );
      expect((await signin(ctx.server, account.username, account.password)).user.id).toBeTruthy();
    });

    it("only the newest reset link works", async () => {
      const { account } = await signedUp(ctx);
      const older = tokenOf(await resetMail(ctx, account.email));
      const newer = tokenOf(await resetMail(ctx, account.email));
      expect(resetMails(ctx, account.email)).toHaveLength(2);
      expectError(
        await reset(ctx.server, older, "older-passphrase-1"),
        "UNAUTHENTICATED",
        "EMAIL_TOKEN_INVALID",
      );
      expect(expectData(await reset(ctx.server, newer, "newer-passphrase-2")).resetPassword).toBe(
        true,
      );
      await signin(ctx.server, account.username, "newer-passphrase-2");
    });

    it("a new password that breaks the rules is refused and the link still works", async () => {
      const { account } = await signedUp(ctx);
      const token = tokenOf(await resetMail(ctx, account.email));
      for (const weak of ["short", "password123", account.username, "x\u0000yyyyyyyyy"]) {
        const error = expectError(await reset(ctx.server, token, weak), "BAD_USER_INPUT");
        expect(error.extensions?.field).toBe("newPassword");
      }
      expect(
        expectData(await reset(ctx.server, token, "strong-enough-passphrase")).resetPassword,
      ).toBe(true);
    });

    it("of two concurrent resets with one token exactly one wins", async () => {
      const { account } = await signedUp(ctx);
      const token = tokenOf(await resetMail(ctx, account.email));
      const candidates = Array.from({ length: 6 }, (_, i) => `concurrent-passphrase-${i}`);
      const answers = await Promise.all(candidates.map((pw) => reset(ctx.server, token, pw)));
      const winners = candidates.filter((_, i) => answers[i]!.data?.resetPassword === true);
      expect(winners).toHaveLength(1);
      for (const [i, answer] of answers.entries()) {
        if (candidates[i] === winners[0]) continue;
        expectError(answer, "UNAUTHENTICATED", "EMAIL_TOKEN_INVALID");
      }
      // The password is the winner's, and only one notice went out.
      await signin(ctx.server, account.username, winners[0]!);
      await deliverMail(ctx.server);
      await ctx.mailbox.waitFor(account.email, 3);
      expect(
        ctx.mailbox.to(account.email).filter((m) => m.subject.includes("was changed")),
      ).toHaveLength(1);
    });

    it("lifts the account's signin lockout", async () => {
      const { account } = await signedUp(ctx);
      for (let i = 0; i < 3; i++) {
        expectError(
          await signinWith(ctx.server, account.username, `wrong-${i}-xxxxx`),
          "UNAUTHENTICATED",
          "INVALID_CREDENTIALS",
        );
      }
      expectError(
        await signinWith(ctx.server, account.username, account.password),
        "UNAUTHENTICATED",
        "TOO_MANY_ATTEMPTS",
      );
      const token = tokenOf(await resetMail(ctx, account.email));
      expect(
        expectData(await reset(ctx.server, token, "unlocked-passphrase-1")).resetPassword,
      ).toBe(true);
      await signin(ctx.server, account.username, "unlocked-passphrase-1");
    });

    it("answers true for an address no account has, sends nothing, and logs the message as dropped", async () => {
      const email = `${newAccount("nobody").username}@example.com`;
      const answer = await ctx.server.execute(
        RequestPasswordResetDocument,
        { email },
        fromNewClient(),
      );
      expect(expectData(answer).requestPasswordReset).toBe(true);
      await deliverMail(ctx.server);
      expect(ctx.mailbox.to(email)).toEqual([]);
      const log = await mongoose.connection
        .db!.collection("mail_log")
        .find({ outcome: "dropped" })
        .toArray();
      expect(log.some((entry) => entry.kind === "password-reset" && entry.to === null)).toBe(true);
      // Nothing in the database names the address that was tried.
      for (const name of ["mail_log", "mail_outbox", "records", "record_versions"]) {
        const docs = await mongoose.connection.db!.collection(name).find({}).toArray();
        expect(JSON.stringify(docs)).not.toContain(email);
      }
    });

    it("is throttled per address (3 an hour), known or not, and per client (30 an hour)", async () => {
      const { account } = await signedUp(ctx);
      const unknown = `${newAccount("ghost").username}@example.com`;
      for (const email of [account.email, unknown]) {
        for (let i = 0; i < 3; i++) {
          const ok = await ctx.server.execute(
            RequestPasswordResetDocument,
            { email },
            fromNewClient(),
          );
          expect(expectData(ok).requestPasswordReset).toBe(true);
        }
        const refused = await ctx.server.execute(
          RequestPasswordResetDocument,
          { email },
          fromNewClient(),
        );
        expect(expectError(refused, "TOO_MANY_REQUESTS").extensions?.retryAfter).toBeGreaterThan(0);
      }

      const client = fromNewClient();
      for (let i = 0; i < 30; i++) {
        const email = `${newAccount("spray").username}@example.com`;
        expect(
          expectData(await ctx.server.execute(RequestPasswordResetDocument, { email }, client))
            .requestPasswordReset,
        ).toBe(true);
      }
      const email = `${newAccount("spray").username}@example.com`;
      expectError(
        await ctx.server.execute(RequestPasswordResetDocument, { email }, client),
        "TOO_MANY_REQUESTS",
      );
      clock.advance(HOUR);
      await deliverMail(ctx.server);
    });

    it("refuses an address that cannot be one, naming the argument", async () => {
      for (const email of ["", "not-an-address", "a@b@c.com", "x".repeat(300) + "@example.com"]) {
        const error = expectError(
          await ctx.server.execute(RequestPasswordResetDocument, { email }, fromNewClient()),
          "BAD_USER_INPUT",
        );
        expect(error.extensions?.field).toBe("email");
      }
    });
  });

  describe("changing the password", () => {
    const change = (accessToken: string, currentPassword: string, newPassword: string) =>
      ctx.server.execute(
        ChangePasswordDocument,
        { currentPassword, newPassword },
        { token: accessToken },
      );

    it("checks the current password, ends every session and returns a new one, and mails a notice", async () => {
      const { account } = await signedUp(ctx);
      const here = await signin(ctx.server, account.username, account.password);
      const elsewhere = await signin(ctx.server, account.username, account.password);
      const staleReset = tokenOf(await resetMail(ctx, account.email));

      expectError(
        await change(here.accessToken, "not-my-password", "next-passphrase-1"),
        "UNAUTHENTICATED",
        "INVALID_CREDENTIALS",
      );
      expectError(
        await change(here.accessToken, account.password, account.password),
        "BAD_USER_INPUT",
      );
      expect(
        expectError(await change(here.accessToken, account.password, "short"), "BAD_USER_INPUT")
          .extensions?.field,
      ).toBe("newPassword");

      const changed = inBody(
        expectData(await change(here.accessToken, account.password, "next-passphrase-1"))
          .changePassword,
      );
      expect(changed.user.id).toBe(here.user.id);
      expect(changed.sessionId).not.toBe(here.sessionId);
      expect(changed.sessionId).not.toBe(elsewhere.sessionId);

      // Every refresh token issued before the change is dead, the caller's own included.
      for (const old of [here, elsewhere]) {
        expectError(
          await ctx.server.execute(RefreshTokenDocument, { refreshToken: old.refreshToken }),
          "UNAUTHENTICATED",
          "REFRESH_TOKEN_INVALID",
        );
      }
      expectData(
        await ctx.server.execute(RefreshTokenDocument, { refreshToken: changed.refreshToken }),
      );
      expectError(
        await signinWith(ctx.server, account.username, account.password),
        "UNAUTHENTICATED",
        "INVALID_CREDENTIALS",
      );
      await signin(ctx.server, account.username, "next-passphrase-1");
      // A reset link mailed before the change cannot undo it.
      expectError(
        await reset(ctx.server, staleReset, "undo-passphrase-1"),
        "UNAUTHENTICATED",
        "EMAIL_TOKEN_INVALID",
      );

      await deliverMail(ctx.server);
      const notice = await ctx.mailbox.waitFor(account.email, 3);
      expect(notice.subject).toBe("Your graphql-jwt-auth password was changed");
      expect(notice.text).toContain("changed by someone signed in to your account");
    });

    it("counts a wrong current password as a failed signin: the throttle locks after SIGNIN_MAX_FAILURES", async () => {
      const { account } = await signedUp(ctx);
      const me = await signin(ctx.server, account.username, account.password);
      for (let i = 0; i < 3; i++) {
        expectError(
          await change(me.accessToken, `wrong-guess-${i}`, "next-passphrase-2"),
          "UNAUTHENTICATED",
          "INVALID_CREDENTIALS",
        );
      }
      const locked = expectError(
        await change(me.accessToken, account.password, "next-passphrase-2"),
        "UNAUTHENTICATED",
        "TOO_MANY_ATTEMPTS",
      );
      expect(locked.extensions?.retryAfter).toBeGreaterThan(0);
      // The same lock as signin's, for this account from this address.
      expectError(
        await signinWith(ctx.server, account.username, account.password),
        "UNAUTHENTICATED",
        "TOO_MANY_ATTEMPTS",
      );
      clock.advance(HOUR);
    });

    it("refuses an access token whose session has ended, and callers without one", async () => {
      const { account } = await signedUp(ctx);
      const me = await signin(ctx.server, account.username, account.password);
      const token = tokenOf(await resetMail(ctx, account.email));
      expect(expectData(await reset(ctx.server, token, "reset-passphrase-9")).resetPassword).toBe(
        true,
      );
      // The access token itself is still within its lifetime.
      expectError(
        await change(me.accessToken, "reset-passphrase-9", "next-passphrase-3"),
        "UNAUTHENTICATED",
        "SESSION_REVOKED",
      );
      expectError(
        await ctx.server.execute(ChangePasswordDocument, {
          currentPassword: "a",
          newPassword: "b",
        }),
        "UNAUTHENTICATED",
      );
    });
  });
});

describe("with REQUIRE_EMAIL_VERIFICATION=true", () => {
  const ctx = useMailServer({ REQUIRE_EMAIL_VERIFICATION: "true" });

  it("a signed-out user can ask for a new link, verify, then sign in", async () => {
    const { account } = await signedUp(ctx);
    expectError(
      await signinWith(ctx.server, account.username, account.password),
      "UNAUTHENTICATED",
      "EMAIL_NOT_VERIFIED",
    );
    const asked = await ctx.server.execute(
      RequestVerificationEmailDocument,
      { email: account.email.toUpperCase() },
      fromNewClient(),
    );
    expect(expectData(asked).requestVerificationEmail).toBe(true);
    await deliverMail(ctx.server);
    const mail = await ctx.mailbox.waitFor(account.email, 2);
    expect(expectData(await verify(ctx.server, tokenOf(mail))).verifyEmail.emailVerified).toBe(
      true,
    );
    await signin(ctx.server, account.username, account.password);

    // Verified now: asking again is answered the same way, and sends nothing.
    const again = await ctx.server.execute(
      RequestVerificationEmailDocument,
      { email: account.email },
      fromNewClient(),
    );
    expect(expectData(again).requestVerificationEmail).toBe(true);
    await deliverMail(ctx.server);
    expect(ctx.mailbox.to(account.email)).toHaveLength(2);
  });
});

describe("with EMAIL_ENABLED=false", () => {
  const ctx = useTestServer({ EMAIL_ENABLED: "false" });

  it("refuses the mutations that need mail with FORBIDDEN EMAIL_DISABLED; changePassword still works", async () => {
    const account = newAccount("nomail");
    expectData(await ctx.server.execute(SignupDocument, { input: account }));
    for (const response of [
      await ctx.server.execute(RequestPasswordResetDocument, { email: account.email }),
      await ctx.server.execute(RequestVerificationEmailDocument, { email: account.email }),
      await verify(ctx.server, "A".repeat(43)),
      await reset(ctx.server, "A".repeat(43), "whatever-passphrase"),
    ]) {
      expectError(response, "FORBIDDEN", "EMAIL_DISABLED");
    }
    const me = await signin(ctx.server, account.username, account.password);
    const changed = await ctx.server.execute(
      ChangePasswordDocument,
      { currentPassword: account.password, newPassword: "changed-passphrase-1" },
      { token: me.accessToken },
    );
    expect(expectData(changed).changePassword.user.username).toBe(account.username);
  });
});
