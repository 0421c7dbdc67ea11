import { randomBytes } from "node:crypto";
import type { Page } from "playwright-core";
import { RefreshTokenDocument, SigninDocument, SignupDocument } from "../generated/graphql";
import { ManualClock } from "../setup/clock";
import { ADMIN, expectData, expectError, inBody, newAccount, useTestServer } from "../setup/kit";
import { artifactPath, useBrowserContext, watchPageErrors } from "./browser";
import { rowsWhenThereAre, signIn, submitSignin, waitSignedOut } from "./example-app-kit";

const ACCESS_TOKEN_TTL_SECONDS = 60;
/** A second device the sessions page tells apart from this Chromium by its User-Agent. */
const PHONE_USER_AGENT =
  "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 " +
  "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1";

interface Account {
  username: string;
  email: string;
  password: string;
}

/** What the user-content row shows after a reload of the content panel. */
async function reloadUserContent(page: Page): Promise<string> {
  await page.getByRole("button", { name: "Reload content" }).click();
  const row = page.locator('[data-testid="content-userContent"]:not([data-state="loading"])');
  return (await row.locator("td").textContent()) ?? "";
}

describe("the example app's sessions page and users page", () => {
  const clock = new ManualClock();
  const ctx = useTestServer(
    {
      ACCESS_TOKEN_TTL: String(ACCESS_TOKEN_TTL_SECONDS),
      // The test server is plain HTTP on 127.0.0.1.
      COOKIE_SECURE: "false",
    },
    { clock },
  );
  const browsing = useBrowserContext({ width: 1100, height: 800 });

  const createAccount = async (account: Account) => {
    expectData(await ctx.server.execute(SignupDocument, { input: account }));
  };
  /** Past every access token's lifetime: each page's next request has to refresh first. */
  const expireAccessTokens = () => clock.advance(ACCESS_TOKEN_TTL_SECONDS + 1);
  const openApp = async (page: Page, path = "/app/") => {
    await page.goto(`${ctx.server.origin}${path}`);
  };

  it("lists this browser and a phone (current marked), ends the phone's session, then ends all others and says how many", async () => {
    const { server } = ctx;
    const account = newAccount("devices");
    await createAccount(account);
    const laptop = await browsing.context.newPage();
    const phone = await (await browsing.newContext({ userAgent: PHONE_USER_AGENT })).newPage();
    const pageErrors = [watchPageErrors(laptop), watchPageErrors(phone)];

    await openApp(laptop);
    await signIn(laptop, account.username, account.password);
    // A later signin: the phone's session is the newer one.
    clock.advance(5);
    await openApp(phone);
    await signIn(phone, account.username, account.password);

    await laptop
      .getByRole("navigation", { name: "Pages" })
      .getByRole("link", { name: "Your sessions" })
      .click();
    expect(new URL(laptop.url()).pathname).toBe("/app/sessions");
    const two = await rowsWhenThereAre(laptop, "session", 2);
    // Newest first: the phone, then this browser, marked as the current one.
    expect(two.map((cells) => cells[0])).toEqual(["Safari on iOS", "Chrome on Linux This browser"]);
    expect(two.map((cells) => cells[1])).toEqual(["127.0.0.1", "127.0.0.1"]);
    const sessionRows = laptop.getByTestId("session");
    expect(await sessionRows.nth(0).getAttribute("data-current")).toBe("false");
    expect(await sessionRows.nth(1).getAttribute("data-current")).toBe("true");
    // This browser's session is ended with Sign out, not from this list.
    expect(await sessionRows.nth(1).getByRole("button").count()).toBe(0);
    await laptop.screenshot({ path: artifactPath("example-app-sessions.png") });

    await sessionRows
      .filter({ hasText: "Safari on iOS" })
      .getByRole("button", { name: "End session" })
      .click();
    await laptop.getByRole("status").getByText("Ended the session of Safari on iOS.").waitFor();
    const one = await rowsWhenThereAre(laptop, "session", 1);
    expect(one[0]?.[0]).toBe("Chrome on Linux This browser");

    // The phone's access token lives out its lifetime (checked without the database); its
    // next refresh fails and signs it out.
    expect(await reloadUserContent(phone)).toBe("User Content.");
    expireAccessTokens();
    expect(await reloadUserContent(phone)).toBe("UNAUTHENTICATED");
    await phone.getByRole("alert").getByText("Your session ended. Sign in again.").waitFor();
    await waitSignedOut(phone);

    // Two other sessions this time: the phone again, and a script using the API.
    await signIn(phone, account.username, account.password);
    clock.advance(1);
    const script = inBody(
      expectData(
        await server.execute(
          SigninDocument,
          { input: { username: account.username, password: account.password } },
          { headers: { "user-agent": "curl/8.5.0" } },
        ),
      ).signin,
    );
    // Away and back: the page asks for the list again each time it opens.
    await laptop.getByRole("link", { name: "Account" }).click();
    await laptop.getByRole("link", { name: "Your sessions" }).click();
    const three = await rowsWhenThereAre(laptop, "session", 3);
    expect(three.map((cells) => cells[0])).toEqual([
      "curl/8.5.0",
      "Safari on iOS",
      "Chrome on Linux This browser",
    ]);

    await laptop.getByRole("button", { name: "End all other sessions" }).click();
    await laptop.getByRole("status").getByText("Ended 2 other sessions.").waitFor();
    await rowsWhenThereAre(laptop, "session", 1);
    expect(await laptop.getByRole("button", { name: "End all other sessions" }).isDisabled()).toBe(
      true,
    );

    // Both ended sessions' refresh tokens are refused; this browser carries on after a reload.
    expectError(
      await server.execute(RefreshTokenDocument, { refreshToken: script.refreshToken }),
      "UNAUTHENTICATED",
      "REFRESH_TOKEN_INVALID",
    );
    await phone.reload();
    await waitSignedOut(phone);
    await laptop.reload();
    const after = await rowsWhenThereAre(laptop, "session", 1);
    expect(after[0]?.[0]).toBe("Chrome on Linux This browser");
    for (const errors of pageErrors) errors.check();
  }, 90_000);

  it("lets an admin find accounts by prefix, page through them, disable one (signed out, then ACCOUNT_DISABLED) and enable it again", async () => {
    const tag = randomBytes(4).toString("hex");
    // Username and email start differently, so each search below can only match one way.
    const accounts: Account[] = Array.from({ length: 12 }, (_, i) => {
      const n = String(i + 1).padStart(2, "0");
      return {
        username: `pg${tag}_${n}`,
        email: `mail${n}.${tag}@example.com`,
        password: `pw-${randomBytes(6).toString("hex")}`,
      };
    });
    // One after another: the page lists accounts oldest first.
    for (const account of accounts) await createAccount(account);
    const target = accounts[10]!;

    const targetPage = await (await browsing.newContext()).newPage();
    await openApp(targetPage);
    await signIn(targetPage, target.username, target.password);

    const admin = await browsing.context.newPage();
    const pageErrors = [watchPageErrors(admin), watchPageErrors(targetPage)];
    await openApp(admin);
    await signIn(admin, ADMIN.username, ADMIN.password);
    const links = admin.getByRole("navigation", { name: "Pages" }).getByRole("link");
    expect(await links.allTextContents()).toEqual(["Account", "Your sessions", "Users"]);
    await links.filter({ hasText: "Users" }).click();

    const range = admin.getByTestId("users-range");
    const search = async (text: string) => {
      const form = admin.getByRole("search", { name: "Search users" });
      await form.getByLabel("Username or email starts with").fill(text);
      await form.getByRole("button", { name: "Search" }).click();
    };

    // The username prefix in capitals: the search ignores letter case.
    await search(`PG${tag.toUpperCase()}`);
    await range.getByText("1–10 of 12", { exact: true }).waitFor();
    const firstPage = await rowsWhenThereAre(admin, "user", 10);
    expect(firstPage.map((cells) => cells[0])).toEqual(
      accounts.slice(0, 10).map((a) => a.username),
    );
    expect(await admin.getByRole("button", { name: "Back to first page" }).isDisabled()).toBe(true);

    await admin.getByRole("button", { name: "Next page" }).click();
    await range.getByText("11–12 of 12", { exact: true }).waitFor();
    const secondPage = await rowsWhenThereAre(admin, "user", 2);
    expect(secondPage.map((cells) => cells.slice(0, 4))).toEqual(
      accounts.slice(10).map((a) => [a.username, a.email, "USER", "Active"]),
    );
    // Only the target has signed in.
    expect(secondPage[0]?.[4]).not.toBe("Never");
    expect(secondPage[1]?.[4]).toBe("Never");
    expect(await admin.getByRole("button", { name: "Next page" }).isDisabled()).toBe(true);

    await admin.getByRole("button", { name: "Back to first page" }).click();
    await range.getByText("1–10 of 12", { exact: true }).waitFor();
    await rowsWhenThereAre(admin, "user", 10);

    // By the start of the email address, in capitals.
    await search(`MAIL11.${tag.toUpperCase()}`);
    await range.getByText("1–1 of 1", { exact: true }).waitFor();
    const row = admin.getByTestId("user").filter({ hasText: target.username });
    expect((await row.locator("td").allTextContents()).slice(0, 4)).toEqual([
      target.username,
      target.email,
      "USER",
      "Active",
    ]);
    await row.getByLabel(`Reason to disable ${target.username}`).fill("Testing the users page");
    await row.getByRole("button", { name: "Disable" }).click();
    await admin.getByText(`Disabled ${target.username}: their sessions ended`).waitFor();
    await row.getByTestId("user-status").getByText("Disabled: Testing the users page").waitFor();
    await admin.screenshot({ path: artifactPath("example-app-users.png") });

    // Disabling ended the target's session: its next refresh fails, and signing in again is
    // refused once the password is right.
    expireAccessTokens();
    expect(await reloadUserContent(targetPage)).toBe("UNAUTHENTICATED");
    await targetPage.getByRole("alert").getByText("Your session ended. Sign in again.").waitFor();
    await submitSignin(targetPage, target.username, target.password);
    await targetPage
      .getByRole("form", { name: "Sign in" })
      .getByText("Sign-in failed: UNAUTHENTICATED (ACCOUNT_DISABLED)")
      .waitFor();

    // The admin's access token expired too: the Enable mutation refreshes it and is retried.
    await row.getByRole("button", { name: "Enable" }).click();
    await admin.getByText(`Enabled ${target.username}: they can sign in again.`).waitFor();
    await row.getByTestId("user-status").getByText("Active", { exact: true }).waitFor();
    await signIn(targetPage, target.username, target.password);
    for (const errors of pageErrors) errors.check();
  }, 90_000);

  it("shows a user no link to the users page, and the page itself only to administrators", async () => {
    const account = newAccount("plain");
    await createAccount(account);
    const page = await browsing.context.newPage();
    const pageErrors = watchPageErrors(page);
    await openApp(page);
    await signIn(page, account.username, account.password);

    const links = page.getByRole("navigation", { name: "Pages" }).getByRole("link");
    expect(await links.allTextContents()).toEqual(["Account", "Your sessions"]);

    // Typing the address does not help: the app says so (and the server would refuse anyway).
    await openApp(page, "/app/users");
    await page.getByRole("alert").getByText("Only administrators can see this page.").waitFor();
    expect(await links.allTextContents()).toEqual(["Account", "Your sessions"]);
    expect(await page.getByRole("search").count()).toBe(0);
    pageErrors.check();
  }, 60_000);
});
