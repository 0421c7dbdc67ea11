import {
  RefreshTokenDocument,
  SigninDocument,
  SignoutAllDocument,
  SignoutDocument,
  SignupDocument,
  UserContentDocument,
} from "./generated/graphql";
import { ManualClock } from "./setup/clock";
import { expectData, expectError, newAccount, useTestServer } from "./setup/kit";
import { startTestServer, type TestServer } from "./setup/test-server";

const COOKIE_MODE = { "x-refresh-token-transport": "cookie" };

function refreshCookieOf(headers: Headers): string | undefined {
  return headers.getSetCookie().find((cookie) => cookie.startsWith("refresh_token="));
}

function cookieValue(setCookie: string | undefined): string {
  const value = /^refresh_token=([^;]*)/.exec(setCookie ?? "")?.[1];
  if (value === undefined) throw new Error(`no refresh_token cookie in ${setCookie}`);
  return value;
}

async function signedUpAccount(server: TestServer) {
  const account = newAccount("cookie");
  expectData(await server.execute(SignupDocument, { input: account }));
  return account;
}

async function cookieSignin(server: TestServer) {
  const account = await signedUpAccount(server);
  const response = await server.execute(
    SigninDocument,
    { input: { username: account.username, password: account.password } },
    { headers: COOKIE_MODE },
  );
  return { account, response, cookie: cookieValue(refreshCookieOf(response.headers)) };
}

describe("refresh token cookie transport", () => {
  const clock = new ManualClock();
  const ctx = useTestServer({ CORS_ORIGINS: "http://app.example.test" }, { clock });

  it("signin in cookie mode sets an httpOnly, SameSite=Strict, Secure cookie on /graphql and leaves the token out of the body", async () => {
    const { response, cookie } = await cookieSignin(ctx.server);
    const payload = expectData(response).signin;
    expect(payload.refreshToken).toBeNull();
    expect(payload.accessToken.split(".")).toHaveLength(3);
    expect(cookie).toMatch(/^[A-Za-z0-9_-]{43,}$/);
    expect(response.text).not.toContain(cookie);

    const setCookie = refreshCookieOf(response.headers)!;
    const attributes = setCookie.split(";").map((part) => part.trim());
    expect(attributes).toEqual(
      expect.arrayContaining(["HttpOnly", "SameSite=Strict", "Path=/graphql", "Secure"]),
    );
    const expires = attributes.find((a) => a.startsWith("Expires="))!.slice("Expires=".length);
    expect(
      Math.abs(new Date(expires).getTime() - Date.parse(payload.refreshTokenExpiresAt)),
    ).toBeLessThan(1000);
  });

  it("refreshToken without an argument rotates the cookie's token and sets the new one", async () => {
    const { cookie } = await cookieSignin(ctx.server);
    const rotated = await ctx.server.execute(
      RefreshTokenDocument,
      {},
      { headers: { ...COOKIE_MODE, cookie: `refresh_token=${cookie}` } },
    );
    const payload = expectData(rotated).refreshToken;
    expect(payload.refreshToken).toBeNull();
    const next = cookieValue(refreshCookieOf(rotated.headers));
    expect(next).not.toBe(cookie);
    expect(
      expectData(await ctx.server.execute(UserContentDocument, {}, { token: payload.accessToken }))
        .userContent,
    ).toBe("User Content.");

    // The old cookie is spent: replaying it after the reuse grace is reuse, and the failed
    // refresh clears the cookie.
    clock.advance(11);
    const replay = await ctx.server.execute(
      RefreshTokenDocument,
      {},
      { headers: { ...COOKIE_MODE, cookie: `refresh_token=${cookie}` } },
    );
    expectError(replay, "UNAUTHENTICATED", "REFRESH_TOKEN_REUSED");
    expect(refreshCookieOf(replay.headers)).toMatch(/^refresh_token=;.*Expires=Thu, 01 Jan 1970/);
  });

  it("refreshToken with neither argument nor cookie is REFRESH_TOKEN_INVALID", async () => {
    expectError(
      await ctx.server.execute(RefreshTokenDocument, {}, { headers: COOKIE_MODE }),
      "UNAUTHENTICATED",
      "REFRESH_TOKEN_INVALID",
    );
  });

  it("two refresh_token cookies (one planted) are both cleared and the request is REFRESH_TOKEN_INVALID", async () => {
    const { cookie } = await cookieSignin(ctx.server);
    const headers = { ...COOKIE_MODE, cookie: `refresh_token=planted; refresh_token=${cookie}` };
    for (const send of [
      () => ctx.server.execute(RefreshTokenDocument, {}, { headers }),
      () => ctx.server.execute(SignoutDocument, {}, { headers }),
    ]) {
      const response = await send();
      expectError(response, "UNAUTHENTICATED", "REFRESH_TOKEN_INVALID");
      const cleared = response.headers
        .getSetCookie()
        .filter((c) => /^refresh_token=;.*Expires=Thu, 01 Jan 1970/.test(c));
      expect(cleared.map((c) => /Path=([^;]+)/.exec(c)?.[1]).sort()).toEqual(["/", "/graphql"]);
    }
    // Neither request spent or ended the real session.
    expect(
      expectData(await ctx.server.execute(RefreshTokenDocument, { refreshToken: cookie }))
        .refreshToken.user.username,
    ).toBeDefined();
  });

  describe("a token read from the cookie never reaches the body", () => {
    it("refreshToken without the cookie-mode header still answers a cookie's token in the cookie only", async () => {
      const { cookie } = await cookieSignin(ctx.server);
      // A same-origin script can send the cookie without the header: it must not get the
      // rotated token back in JSON.
      const response = await ctx.server.execute(
        RefreshTokenDocument,
        {},
        { headers: { cookie: `refresh_token=${cookie}` } },
      );
      expect(expectData(response).refreshToken.refreshToken).toBeNull();
      const next = cookieValue(refreshCookieOf(response.headers));
      expect(next).not.toBe(cookie);
      expect(response.text).not.toContain(next);
    });

    it("a token passed as the argument follows the header: body by default, cookie in cookie mode", async () => {
      const { account } = await cookieSignin(ctx.server);
      const bodySignin = expectData(
        await ctx.server.execute(SigninDocument, {
          input: { username: account.username, password: account.password },
        }),
      ).signin;
      const inBody = await ctx.server.execute(RefreshTokenDocument, {
        refreshToken: bodySignin.refreshToken,
      });
      expect(typeof expectData(inBody).refreshToken.refreshToken).toBe("string");
      expect(refreshCookieOf(inBody.headers)).toBeUndefined();

      const inCookie = await ctx.server.execute(
        RefreshTokenDocument,
        { refreshToken: expectData(inBody).refreshToken.refreshToken },
        { headers: COOKIE_MODE },
      );
      expect(expectData(inCookie).refreshToken.refreshToken).toBeNull();
      expect(cookieValue(refreshCookieOf(inCookie.headers))).toMatch(
        /^[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}$/,
      );
    });
  });

  describe("signout(refreshToken: X) with a cookie", () => {
    it("keeps the cookie when X is another session, and both sessions' fates are their own", async () => {
      const { account, cookie } = await cookieSignin(ctx.server);
      const other = expectData(
        await ctx.server.execute(SigninDocument, {
          input: { username: account.username, password: account.password },
        }),
      ).signin;
      const response = await ctx.server.execute(
        SignoutDocument,
        { refreshToken: other.refreshToken },
        { headers: { ...COOKIE_MODE, cookie: `refresh_token=${cookie}` } },
      );
      expect(expectData(response).signout).toBe(true);
      expect(refreshCookieOf(response.headers)).toBeUndefined();
      expectError(
        await ctx.server.execute(RefreshTokenDocument, { refreshToken: other.refreshToken }),
        "UNAUTHENTICATED",
        "REFRESH_TOKEN_INVALID",
      );
      expectData(
        await ctx.server.execute(
          RefreshTokenDocument,
          {},
          { headers: { cookie: `refresh_token=${cookie}` } },
        ),
      );
    });

    it("clears the cookie when X is the cookie's own session", async () => {
      const { cookie } = await cookieSignin(ctx.server);
      const response = await ctx.server.execute(
        SignoutDocument,
        { refreshToken: cookie },
        { headers: { ...COOKIE_MODE, cookie: `refresh_token=${cookie}` } },
      );
      expect(expectData(response).signout).toBe(true);
      expect(refreshCookieOf(response.headers)).toMatch(
        /^refresh_token=;.*Expires=Thu, 01 Jan 1970/,
      );
    });

    it("clears the cookie when the cookie itself is no longer valid", async () => {
      const { account } = await cookieSignin(ctx.server);
      const other = expectData(
        await ctx.server.execute(SigninDocument, {
          input: { username: account.username, password: account.password },
        }),
      ).signin;
      const response = await ctx.server.execute(
        SignoutDocument,
        { refreshToken: other.refreshToken },
        { headers: { ...COOKIE_MODE, cookie: `refresh_token=${"x".repeat(43)}` } },
      );
      expect(expectData(response).signout).toBe(true);
      expect(refreshCookieOf(response.headers)).toMatch(
        /^refresh_token=;.*Expires=Thu, 01 Jan 1970/,
      );
    });
  });

  it("signout without an argument ends the cookie's session and clears the cookie", async () => {
    const { cookie } = await cookieSignin(ctx.server);
    const headers = { ...COOKIE_MODE, cookie: `refresh_token=${cookie}` };
    const signout = await ctx.server.execute(SignoutDocument, {}, { headers });
    expect(expectData(signout).signout).toBe(true);
    expect(refreshCookieOf(signout.headers)).toMatch(/^refresh_token=;.*Expires=Thu, 01 Jan 1970/);
    expectError(
      await ctx.server.execute(RefreshTokenDocument, { refreshToken: cookie }),
      "UNAUTHENTICATED",
      "REFRESH_TOKEN_INVALID",
    );
  });

  it("signoutAll clears the cookie and ends every session", async () => {
    const { response, cookie } = await cookieSignin(ctx.server);
    const accessToken = expectData(response).signin.accessToken;
    const signoutAll = await ctx.server.execute(
      SignoutAllDocument,
      {},
      { token: accessToken, headers: { cookie: `refresh_token=${cookie}` } },
    );
    expect(expectData(signoutAll).signoutAll).toBe(true);
    expect(refreshCookieOf(signoutAll.headers)).toMatch(/^refresh_token=;/);
    expectError(
      await ctx.server.execute(RefreshTokenDocument, { refreshToken: cookie }),
      "UNAUTHENTICATED",
      "REFRESH_TOKEN_INVALID",
    );
  });

  it("clients that use the body transport see no cookie and get the token in the body", async () => {
    const account = await signedUpAccount(ctx.server);
    const response = await ctx.server.execute(SigninDocument, {
      input: { username: account.username, password: account.password },
    });
    expect(expectData(response).signin.refreshToken).toMatch(/^[A-Za-z0-9_-]{43,}$/);
    expect(response.headers.getSetCookie()).toEqual([]);
  });

  it("a cross-site form post (text/plain) with the cookie is refused by CSRF prevention", async () => {
    const { cookie } = await cookieSignin(ctx.server);
    const response = await fetch(ctx.server.url, {
      method: "POST",
      headers: { "content-type": "text/plain", cookie: `refresh_token=${cookie}` },
      body: JSON.stringify({ query: "mutation { refreshToken { accessToken } }" }),
    });
    expect(response.status).toBe(400);
    expect(await response.text()).toMatch(/CSRF|preflight/i);
    expect(response.headers.getSetCookie()).toEqual([]);
  });

  it("CORS with credentials is granted to CORS_ORIGINS only", async () => {
    const preflight = (origin: string) =>
      fetch(ctx.server.url, {
        method: "OPTIONS",
        headers: {
          origin,
          "access-control-request-method": "POST",
          "access-control-request-headers": "content-type,x-refresh-token-transport",
        },
      });
    const allowed = await preflight("http://app.example.test");
    expect(allowed.headers.get("access-control-allow-origin")).toBe("http://app.example.test");
    expect(allowed.headers.get("access-control-allow-credentials")).toBe("true");
    const other = await preflight("http://evil.example.test");
    expect(other.headers.get("access-control-allow-origin")).toBeNull();
  });

  it("COOKIE_SECURE=false drops the Secure attribute for plain-HTTP localhost", async () => {
    const insecure = await startTestServer({ COOKIE_SECURE: "false" });
    try {
      const { response } = await cookieSignin(insecure);
      const attributes = refreshCookieOf(response.headers)!
        .split(";")
        .map((a) => a.trim());
      expect(attributes).toContain("HttpOnly");
      expect(attributes).not.toContain("Secure");
    } finally {
      await insecure.close();
    }
  });
});
