import type { Page } from "playwright-core";
import { RefreshTokenDocument } from "../generated/graphql";
import { ManualClock } from "../setup/clock";
import { newAccount, useTestServer } from "../setup/kit";
import { artifactPath, watchPageErrors, useBrowserContext, type PageGlobals } from "./browser";
import { signIn } from "./example-app-kit";

/** The server's clock is moved past it: the app only ever learns of expiry from the server. */
const ACCESS_TOKEN_TTL_SECONDS = 60;
/** REFRESH_REUSE_GRACE's default. */
const REUSE_GRACE_SECONDS = 10;
const FIELDS = ["publicContent", "userContent", "modContent", "adminContent"] as const;
type Field = (typeof FIELDS)[number];

/** What each row of the content table shows, once none is still loading. */
async function readContent(page: Page): Promise<Record<Field, string>> {
  await page.waitForFunction((fields) => {
    const { document } = globalThis as unknown as PageGlobals;
    return fields.every((field) => {
      const state = document
        .querySelector(`[data-testid="content-${field}"]`)
        ?.getAttribute("data-state");
      return state === "data" || state === "error";
    });
  }, FIELDS);
  const entries = await Promise.all(
    FIELDS.map(
      async (field) =>
        [
          field,
          (await page.getByTestId(`content-${field}`).locator("td").textContent()) ?? "",
        ] as const,
    ),
  );
  return Object.fromEntries(entries) as Record<Field, string>;
}

/** Everything a script on the page could read: both storages and document.cookie. */
async function pageReadableState(page: Page): Promise<string> {
  return page.evaluate(() => {
    const { localStorage, sessionStorage, document } = globalThis as unknown as PageGlobals;
    const dump = (storage: typeof localStorage) =>
      Array.from({ length: storage.length }, (_, i) => {
        const key = storage.key(i) ?? "";
        return `${key}=${storage.getItem(key) ?? ""}`;
      });
    return JSON.stringify({
      localStorage: dump(localStorage),
      sessionStorage: dump(sessionStorage),
      cookie: document.cookie,
    });
  });
}

interface Traffic {
  /** operationName of every POST /graphql, in order. */
  readonly operations: string[];
  /** Bodies of every response the page received (a script can read any same-origin one). */
  bodies(): Promise<string[]>;
}

function recordTraffic(page: Page, graphqlUrl: string): Traffic {
  const operations: string[] = [];
  const bodies: Promise<string>[] = [];
  page.on("request", (request) => {
    if (request.method() !== "POST" || request.url() !== graphqlUrl) return;
    const body = request.postDataJSON() as { operationName?: string; query?: string };
    operations.push(body.operationName ?? body.query ?? "?");
  });
  page.on("response", (response) => {
    // A redirect has no body to read; anything else is kept.
    bodies.push(response.text().catch(() => ""));
  });
  return { operations, bodies: () => Promise.all(bodies) };
}

const signUp = async (page: Page, account: ReturnType<typeof newAccount>) => {
  const form = page.getByRole("form", { name: "Sign up" });
  await form.getByLabel("Username").fill(account.username);
  await form.getByLabel("Email").fill(account.email);
  await form.getByLabel("Password").fill(account.password);
  await form.getByRole("button", { name: "Sign up" }).click();
  await page.getByText(`Account ${account.username} created`).waitFor();
};

describe("the example app at /app/ (Apollo Client, refresh token in a cookie)", () => {
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

  const refreshCookie = async () => {
    const cookies = await browsing.context.cookies();
    return cookies.find((cookie) => cookie.name === "refresh_token");
  };

  it("signs up, signs in, refreshes silently once for parallel queries, survives a reload, signs out", async () => {
    const { server } = ctx;
    const page = await browsing.context.newPage();
    const pageErrors = watchPageErrors(page);
    const traffic = recordTraffic(page, server.url);
    const refreshTokens = new Set<string>();
    const rememberCookie = async () => {
      const cookie = await refreshCookie();
      expect(cookie).toMatchObject({ httpOnly: true, sameSite: "Strict", path: "/graphql" });
      refreshTokens.add(cookie!.value);
    };
    const account = newAccount("web");

    await page.goto(`${server.origin}/app/`);
    expect(await readContent(page)).toEqual({
      publicContent: "Public Content.",
      userContent: "UNAUTHENTICATED",
      modContent: "UNAUTHENTICATED",
      adminContent: "UNAUTHENTICATED",
    });

    await signUp(page, account);
    await signIn(page, account.username, account.password);
    const signedInContent = {
      publicContent: "Public Content.",
      userContent: "User Content.",
      modContent: "FORBIDDEN",
      adminContent: "FORBIDDEN",
    };
    expect(await readContent(page)).toEqual(signedInContent);
    await rememberCookie();
    await page.screenshot({ path: artifactPath("example-app.png") });

    // Past the access token's lifetime, four queries fail together with TOKEN_EXPIRED.
    clock.advance(ACCESS_TOKEN_TTL_SECONDS + 1);
    traffic.operations.length = 0;
    await page.getByRole("button", { name: "Reload content" }).click();
    expect(await readContent(page)).toEqual(signedInContent);
    expect(traffic.operations.filter((name) => name === "RefreshSession")).toHaveLength(1);
    // Each protected query was sent twice: once expired, once after the shared refresh.
    for (const name of ["UserContent", "ModContent", "AdminContent"]) {
      expect(traffic.operations.filter((op) => op === name)).toHaveLength(2);
    }
    await rememberCookie();

    // The access token was only in memory; the cookie brings the session back.
    traffic.operations.length = 0;
    await page.reload();
    await page.getByTestId("username").getByText(account.username).waitFor();
    expect(await readContent(page)).toEqual(signedInContent);
    expect(traffic.operations[0]).toBe("RefreshSession");
    await rememberCookie();
    expect(refreshTokens.size).toBe(3);

    const readable = await pageReadableState(page);
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.getByRole("form", { name: "Sign in" }).waitFor();
    expect(await readContent(page)).toEqual({
      publicContent: "Public Content.",
      userContent: "UNAUTHENTICATED",
      modContent: "UNAUTHENTICATED",
      adminContent: "UNAUTHENTICATED",
    });
    expect(await refreshCookie()).toBeUndefined();

    // Signed out for good: a reload finds no session to restore.
    await page.reload();
    await page.getByRole("form", { name: "Sign in" }).waitFor();

    // No refresh token ever reached anything a script on the page can read.
    const bodies = await traffic.bodies();
    expect(bodies.length).toBeGreaterThan(10);
    for (const token of refreshTokens) {
      expect(readable).not.toContain(token);
      expect(await pageReadableState(page)).not.toContain(token);
      for (const body of bodies) expect(body).not.toContain(token);
    }
    pageErrors.check();
  }, 60_000);

  it("returns to the signed-out state when the refresh fails", async () => {
    const { server } = ctx;
    const page = await browsing.context.newPage();
    const pageErrors = watchPageErrors(page);
    const account = newAccount("web");

    await page.goto(`${server.origin}/app/`);
    await signUp(page, account);
    await signIn(page, account.username, account.password);
    expect((await readContent(page)).userContent).toBe("User Content.");

    // Someone else spends the refresh token first (a stolen cookie): once the reuse grace has
    // passed, the server treats the app's own use of it as reuse and ends the session.
    const stolen = await refreshCookie();
    const theft = await server.execute(RefreshTokenDocument, { refreshToken: stolen!.value });
    expect(theft.errors).toBeUndefined();

    clock.advance(Math.max(ACCESS_TOKEN_TTL_SECONDS, REUSE_GRACE_SECONDS) + 1);
    await page.getByRole("button", { name: "Reload content" }).click();
    await page.getByRole("alert").getByText("Your session was ended for safety").waitFor();
    await page.getByRole("form", { name: "Sign in" }).waitFor();
    expect((await readContent(page)).userContent).toBe("UNAUTHENTICATED");
    pageErrors.check();
  }, 60_000);
});
