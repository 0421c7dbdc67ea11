import type { BrowserContext, Page, Request, Route } from "playwright-core";
import type { SecurityEvent } from "../../src/services/security-events";
import { SignupDocument } from "../generated/graphql";
import { ManualClock } from "../setup/clock";
import { expectData, newAccount, useTestServer } from "../setup/kit";
import { useBrowserContext, watchPageErrors } from "./browser";
import { signIn, waitSignedIn } from "./example-app-kit";

/** Collisions per test: one could be luck, several in a row are the rule. */
const ROUNDS = 4;
/** How long the first tab's refresh is held for the second's before it goes alone. */
const PAIRING_TIMEOUT_MS = 5_000;

/**
 * Issue 13: two tabs of one browser (one cookie jar) reload at the same moment and both
 * restore their session from the one refresh cookie.
 *
 * The app takes turns across tabs with a Web Lock (src/session.ts), so the second tab sends the
 * cookie the first one set and the server never sees a token twice. The server's
 * REFRESH_REUSE_GRACE covers clients without such a lock: the variants below remove the lock
 * before the app's scripts run and hold each tab's refresh until the other's is sent too, so
 * both carry the same token, and check that they did.
 */
describe("two tabs of the example app reloading at the same moment", () => {
  const browsing = useBrowserContext({ width: 1000, height: 700 });

  describe("server at REFRESH_REUSE_GRACE's default (10 s)", () => {
    const server = useInstrumentedServer({});

    it("the app as it is: the Web Lock makes the tabs take turns, each refresh spends a different token, both stay signed in", async () => {
      const { tabs, account } = await twoSignedInTabs(server, browsing.context);
      for (const tab of tabs) expect(await tab.evaluate("'locks' in navigator")).toBe(true);
      const refreshes = recordRefreshes(browsing.context);

      for (let round = 0; round < ROUNDS; round++) {
        server.events.length = 0;
        refreshes.length = 0;
        await Promise.all(tabs.map((tab) => tab.reload()));
        await Promise.all(tabs.map((tab) => waitSignedIn(tab, account.username)));
        const presented = await cookiesPresented(refreshes, 2);
        // The second tab waited for the first and sent the cookie it brought back.
        expect(new Set(presented).size).toBe(2);
        expect(server.rotations()).toEqual([{ grace: false }, { grace: false }]);
        expect(server.reuses()).toEqual([]);
      }
      server.checkPageErrors();
    }, 120_000);

    it("without the lock: both tabs present the same refresh token, the grace answers both, both stay signed in", async () => {
      await withoutWebLocks(browsing.context);
      const { tabs, account } = await twoSignedInTabs(server, browsing.context);
      for (const tab of tabs) expect(await tab.evaluate("'locks' in navigator")).toBe(false);
      await sendRefreshesInPairs(browsing.context);
      const refreshes = recordRefreshes(browsing.context);

      for (let round = 0; round < ROUNDS; round++) {
        server.events.length = 0;
        refreshes.length = 0;
        await Promise.all(tabs.map((tab) => tab.reload()));
        await Promise.all(tabs.map((tab) => waitSignedIn(tab, account.username)));
        // A real collision: one token, presented twice; the second answered within the grace.
        const presented = await cookiesPresented(refreshes, 2);
        expect(new Set(presented).size).toBe(1);
        expect(server.rotations()).toEqual(
          expect.arrayContaining([{ grace: false }, { grace: true }]),
        );
        expect(server.rotations()).toHaveLength(2);
        expect(server.reuses()).toEqual([]);
      }

      // The session still has one live chain: a tab reloading alone refreshes as usual.
      server.events.length = 0;
      await tabs[0]!.reload();
      await waitSignedIn(tabs[0]!, account.username);
      expect(server.rotations()).toEqual([{ grace: false }]);
      server.checkPageErrors();
    }, 120_000);
  });

  describe("server at REFRESH_REUSE_GRACE=0 (the strict rule)", () => {
    const server = useInstrumentedServer({ REFRESH_REUSE_GRACE: "0" });

    it("the app as it is: the Web Lock alone keeps both tabs signed in", async () => {
      const { tabs, account } = await twoSignedInTabs(server, browsing.context);
      const refreshes = recordRefreshes(browsing.context);

      for (let round = 0; round < ROUNDS; round++) {
        server.events.length = 0;
        refreshes.length = 0;
        await Promise.all(tabs.map((tab) => tab.reload()));
        await Promise.all(tabs.map((tab) => waitSignedIn(tab, account.username)));
        expect(new Set(await cookiesPresented(refreshes, 2)).size).toBe(2);
        expect(server.reuses()).toEqual([]);
      }
      server.checkPageErrors();
    }, 120_000);

    it("without the lock: the second use of the token is reuse, one tab is signed out and the session ends", async () => {
      await withoutWebLocks(browsing.context);
      const { tabs, account } = await twoSignedInTabs(server, browsing.context);
      await sendRefreshesInPairs(browsing.context);
      const refreshes = recordRefreshes(browsing.context);

      for (let round = 0; round < ROUNDS; round++) {
        if (round > 0) {
          // Signed in again, both tabs: the first through the form, the second from its cookie.
          await signIn(tabs[0]!, account.username, account.password);
          await sendAlone(async () => {
            await tabs[1]!.reload();
            await waitSignedIn(tabs[1]!, account.username);
          });
        }
        server.events.length = 0;
        refreshes.length = 0;
        await Promise.all(tabs.map((tab) => tab.reload()));
        const states = await Promise.all(tabs.map(settledState));
        expect(new Set(await cookiesPresented(refreshes, 2)).size).toBe(1);
        expect([...states].sort()).toEqual(["signed-in", "signed-out"]);
        expect(server.rotations()).toEqual([{ grace: false }]);
        expect(server.reuses()).toHaveLength(1);

        // The reuse ended the whole session: the tab still showing it is out at its next refresh.
        const survivor = tabs[states.indexOf("signed-in")]!;
        await sendAlone(async () => {
          await survivor.reload();
          expect(await settledState(survivor)).toBe("signed-out");
        });
      }
      server.checkPageErrors();
    }, 150_000);
  });

  /**
   * A server with a clock that stands still (so every replay falls inside a grace of any
   * length, or exactly on a grace of 0) and a record of its refresh events.
   */
  function useInstrumentedServer(env: Record<string, string>) {
    const clock = new ManualClock();
    const ctx = useTestServer({ COOKIE_SECURE: "false", ...env }, { clock });
    const events: SecurityEvent[] = [];
    const watched: { check(): void }[] = [];
    beforeAll(() => {
      ctx.server.app.services.events.subscribe((event) => events.push(event));
    });
    beforeEach(() => {
      events.length = 0;
      watched.length = 0;
    });
    return {
      get origin(): string {
        return ctx.server.origin;
      },
      get graphqlUrl(): string {
        return ctx.server.url;
      },
      async signUp(account: ReturnType<typeof newAccount>) {
        expectData(await ctx.server.execute(SignupDocument, { input: account }));
      },
      events,
      watch(page: Page) {
        watched.push(watchPageErrors(page));
      },
      checkPageErrors() {
        for (const page of watched) page.check();
      },
      rotations: () =>
        events.flatMap((e) => (e.type === "refresh_rotated" ? [{ grace: e.grace }] : [])),
      reuses: () => events.filter((e) => e.type === "refresh_token_reused"),
    };
  }

  async function twoSignedInTabs(
    server: ReturnType<typeof useInstrumentedServer>,
    context: BrowserContext,
  ): Promise<{ tabs: [Page, Page]; account: ReturnType<typeof newAccount> }> {
    const account = newAccount("tabs");
    await server.signUp(account);
    const first = await context.newPage();
    server.watch(first);
    await first.goto(`${server.origin}/app/`);
    await signIn(first, account.username, account.password);
    // The second tab opens later and restores the session from the cookie, as a new tab does.
    const second = await context.newPage();
    server.watch(second);
    await second.goto(`${server.origin}/app/`);
    await waitSignedIn(second, account.username);
    return { tabs: [first, second], account };
  }
});

/** Before any of the app's scripts run, the page has no Web Locks (as in an older browser). */
async function withoutWebLocks(context: BrowserContext): Promise<void> {
  await context.addInitScript({ content: "delete Navigator.prototype.locks;" });
}

/** The RefreshSession requests the tabs send, in order. */
function recordRefreshes(context: BrowserContext): Request[] {
  const refreshes: Request[] = [];
  context.on("request", (request) => {
    if (isRefresh(request)) refreshes.push(request);
  });
  return refreshes;
}

function isRefresh(request: Request): boolean {
  if (request.method() !== "POST") return false;
  const body = request.postDataJSON() as { operationName?: string } | null;
  return body?.operationName === "RefreshSession";
}

/** The refresh_token cookie each recorded request carried, read from the headers sent. */
async function cookiesPresented(refreshes: Request[], count: number): Promise<string[]> {
  expect(refreshes).toHaveLength(count);
  return Promise.all(
    refreshes.map(async (request) => {
      const cookie = (await request.allHeaders()).cookie ?? "";
      const value = /(?:^|;\s*)refresh_token=([^;]+)/.exec(cookie)?.[1];
      if (!value) throw new Error(`a refresh without the cookie: "${cookie}"`);
      return value;
    }),
  );
}

/**
 * Holds each tab's refresh until the other tab's is sent too, then lets both go at once: the
 * tabs reload at the same moment as far as the server can tell, on a loaded machine too. A
 * refresh with no partner within PAIRING_TIMEOUT_MS goes alone (and the test then fails on
 * the cookies it sees, instead of hanging).
 */
let pairing: { alone: boolean; waiting: { route: Route; timer: NodeJS.Timeout }[] } = {
  alone: false,
  waiting: [],
};

async function sendRefreshesInPairs(context: BrowserContext): Promise<void> {
  pairing = { alone: false, waiting: [] };
  await context.route("**/graphql", async (route) => {
    if (pairing.alone || !isRefresh(route.request())) return route.continue();
    const held = {
      route,
      timer: setTimeout(() => {
        pairing.waiting = pairing.waiting.filter((other) => other !== held);
        void route.continue();
      }, PAIRING_TIMEOUT_MS),
    };
    pairing.waiting.push(held);
    if (pairing.waiting.length < 2) return;
    const pair = pairing.waiting;
    pairing.waiting = [];
    for (const each of pair) clearTimeout(each.timer);
    await Promise.all(pair.map((each) => each.route.continue()));
  });
}

/** A step where one tab refreshes on its own: its refresh has no partner to wait for. */
async function sendAlone(step: () => Promise<void>): Promise<void> {
  pairing.alone = true;
  try {
    await step();
  } finally {
    pairing.alone = false;
  }
}

/** Where a reloaded tab ends up once the app has tried to restore its session. */
async function settledState(page: Page): Promise<"signed-in" | "signed-out"> {
  const signedIn = page.getByTestId("username");
  const signedOut = page.getByRole("form", { name: "Sign in" });
  await signedIn.or(signedOut).waitFor();
  return (await signedIn.count()) > 0 ? "signed-in" : "signed-out";
}
