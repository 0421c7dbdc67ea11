import type { Locator, Page } from "playwright-core";
import { RefreshTokenDocument } from "../generated/graphql";
import { expectError, newAccount, signin, useTestServer } from "../setup/kit";
import { artifactPath, useBrowserContext, watchPageErrors } from "./browser";
import { submitSignin } from "./example-app-kit";

type Account = ReturnType<typeof newAccount>;

/**
 * The recovery flows as a person goes through them in the example app, with mail read where a
 * developer reads it: the server's own catcher at /dev/mail (no SMTP_URL, not production).
 */
describe("account recovery in the example app, mail read at /dev/mail", () => {
  const ctx = useTestServer({ EMAIL_ENABLED: "true", COOKIE_SECURE: "false" });
  const browsing = useBrowserContext({ width: 1100, height: 900 });

  /** The newest message to `email` whose subject starts with `subject`, waiting for it. */
  async function openMail(page: Page, email: string, subject: string): Promise<Locator> {
    for (let tries = 0; tries < 50; tries++) {
      await page.goto(`${ctx.server.origin}/dev/mail`);
      const mail = page
        .locator("article")
        .filter({ has: page.locator(".to", { hasText: email }) })
        .filter({ has: page.locator("h2", { hasText: subject }) })
        .first();
      if ((await mail.count()) > 0) return mail;
      await page.waitForTimeout(200);
    }
    throw new Error(`no mail "${subject}" to ${email} at /dev/mail`);
  }

  async function signUp(page: Page, account: Account) {
    const form = page.getByRole("form", { name: "Sign up" });
    await form.getByLabel("Username").fill(account.username);
    await form.getByLabel("Email").fill(account.email);
    await form.getByLabel("Password").fill(account.password);
    await form.getByRole("button", { name: "Sign up" }).click();
    await page.getByText(`Account ${account.username} created. We sent a link`).waitFor();
  }

  it("signup → verification mail → link → verified; forgot password → mail → reset → new password only, other sessions ended; change password", async () => {
    const { server } = ctx;
    const page = await browsing.context.newPage();
    const pageErrors = watchPageErrors(page);
    const account = newAccount("recover");

    await page.goto(`${server.origin}/app/`);
    await signUp(page, account);
    await submitSignin(page, account.username, account.password);
    await page.getByTestId("username").getByText(account.username).waitFor();
    const banner = page.getByRole("complementary", { name: "Email verification" });
    await banner.getByText("is not verified yet").waitFor();

    // The verification mail, opened in the catcher; its link opens the app's verify page.
    const verification = await openMail(page, account.email, "Verify your email address");
    await page.screenshot({ path: artifactPath("dev-mail.png") });
    await verification.locator("a[href*='/app/verify-email?token=']").first().click();
    await page.getByText(`Your email address ${account.email} is verified.`).waitFor();
    // The token left the address bar once read.
    expect(page.url()).toBe(`${server.origin}/app/verify-email`);
    await page.getByRole("link", { name: "Back to the app" }).click();
    await page.getByTestId("username").getByText(account.username).waitFor();
    expect(await banner.count()).toBe(0);

    // Signed in elsewhere too; the reset must end that session.
    const elsewhere = await signin(server, account.username, account.password);

    await page.getByRole("button", { name: "Sign out" }).click();
    await page.getByRole("link", { name: "Forgot your password?" }).click();
    const forgot = page.getByRole("form", { name: "Forgot password" });
    await forgot.getByLabel("Email").fill(account.email);
    await forgot.getByRole("button", { name: "Email me a link" }).click();
    await page.getByText(`If an account has the address ${account.email}, we sent it`).waitFor();

    const resetMail = await openMail(page, account.email, "Reset your");
    await resetMail.locator("a[href*='/app/reset-password?token=']").first().click();
    const newPassword = "browser-reset-passphrase-1";
    const resetForm = page.getByRole("form", { name: "Reset password" });
    await resetForm.waitFor();
    expect(page.url()).toBe(`${server.origin}/app/reset-password`);
    await resetForm.getByLabel("New password").fill(newPassword);
    await resetForm.getByLabel("Repeat it").fill(newPassword);
    await resetForm.getByRole("button", { name: "Set the new password" }).click();
    await page.getByText("Your password was changed and every session signed out.").waitFor();

    await page.getByRole("link", { name: "Back to the app" }).click();
    await submitSignin(page, account.username, account.password);
    await page.getByText("Sign-in failed: UNAUTHENTICATED (INVALID_CREDENTIALS)").waitFor();
    await submitSignin(page, account.username, newPassword);
    await page.getByTestId("username").getByText(account.username).waitFor();
    expectError(
      await server.execute(RefreshTokenDocument, { refreshToken: elsewhere.refreshToken }),
      "UNAUTHENTICATED",
      "REFRESH_TOKEN_INVALID",
    );
    await openMail(page, account.email, "Your graphql-jwt-auth password was changed");

    // Change it again, signed in: this session goes on with a new pair.
    await page.goto(`${server.origin}/app/`);
    await page.getByTestId("username").getByText(account.username).waitFor();
    const change = page.getByRole("form", { name: "Change password" });
    await change.getByLabel("Current password").fill(newPassword);
    await change.getByLabel("New password").fill("browser-changed-passphrase-2");
    await change.getByRole("button", { name: "Change password" }).click();
    await page.getByText("Password changed. Every other session was signed out.").waitFor();
    await page.reload();
    await page.getByTestId("username").getByText(account.username).waitFor();
    await signin(server, account.username, "browser-changed-passphrase-2");
    pageErrors.check();
  }, 90_000);
});
