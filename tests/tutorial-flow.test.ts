import { randomBytes } from "node:crypto";
import {
  RefreshTokenDocument,
  SigninDocument,
  SignupDocument,
  UserContentDocument,
} from "./generated/graphql";
import { expectData, expectError, inBody, newAccount, signin, useTestServer } from "./setup/kit";
import { ManualClock } from "./setup/clock";
import { startTestServer, type TestServer } from "./setup/test-server";

const SHORT_ACCESS_TTL = 1;
const SHORT_REFRESH_TTL = 3;

/** A timestamp from an AuthPayload lies within `slackMs` of [earliest, latest]. */
function expectWithin(iso: string, earliest: number, latest: number, slackMs = 2000): void {
  const at = new Date(iso).getTime();
  expect(Number.isNaN(at)).toBe(false);
  expect(at).toBeGreaterThanOrEqual(earliest - slackMs);
  expect(at).toBeLessThanOrEqual(latest + slackMs);
}

async function userContent(server: TestServer, headers: { token?: string; legacy?: string }) {
  return server.execute(
    UserContentDocument,
    {},
    {
      token: headers.token,
      headers: headers.legacy ? { "x-access-token": headers.legacy } : {},
    },
  );
}

describe("the Express tutorial's flow: signup, signin, expiry and refresh", () => {
  const ctx = useTestServer();
  let short: TestServer | undefined;
  const clock = new ManualClock();

  beforeAll(async () => {
    short = await startTestServer(
      {
        ACCESS_TOKEN_TTL: String(SHORT_ACCESS_TTL),
        REFRESH_TOKEN_TTL: String(SHORT_REFRESH_TTL),
        SESSION_MAX_AGE: "60",
      },
      { clock },
    );
  });
  afterAll(async () => {
    await short?.close();
  });

  const shortServer = (): TestServer => {
    if (!short) throw new Error("the short-TTL server is not started yet");
    return short;
  };

  it("signup, signin, expired access token, refresh, expired refresh token, unknown refresh token", async () => {
    const server = shortServer();
    const account = newAccount("flow");

    const created = expectData(await server.execute(SignupDocument, { input: account })).signup;
    expect(created).toMatchObject({
      username: account.username,
      email: account.email,
      roles: ["USER"],
    });

    const first = await signin(server, account.username, account.password);
    expect(first.user.id).toBe(created.id);
    expect(expectData(await userContent(server, { token: first.accessToken })).userContent).toBe(
      "User Content.",
    );

    // JWT exp has 1-second resolution: 2.1 s is past a 1 s TTL whatever the rounding.
    clock.advance(2.1);
    expectError(
      await userContent(server, { token: first.accessToken }),
      "UNAUTHENTICATED",
      "TOKEN_EXPIRED",
    );
    expectError(
      await userContent(server, { legacy: first.accessToken }),
      "UNAUTHENTICATED",
      "TOKEN_EXPIRED",
    );

    const second = inBody(
      expectData(await server.execute(RefreshTokenDocument, { refreshToken: first.refreshToken }))
        .refreshToken,
    );
    expect(second.refreshToken).not.toBe(first.refreshToken);
    expect(second.accessToken).not.toBe(first.accessToken);
    expect(second.user.id).toBe(created.id);
    expect(expectData(await userContent(server, { token: second.accessToken })).userContent).toBe(
      "User Content.",
    );

    // Let the new refresh token run out unused (its expiry has millisecond resolution).
    const untilExpiry = new Date(second.refreshTokenExpiresAt).getTime() - clock.nowMs();
    expect(untilExpiry).toBe(SHORT_REFRESH_TTL * 1000);
    clock.advance(untilExpiry / 1000);
    expectError(
      await server.execute(RefreshTokenDocument, { refreshToken: second.refreshToken }),
      "UNAUTHENTICATED",
      "REFRESH_TOKEN_EXPIRED",
    );

    expectError(
      await server.execute(RefreshTokenDocument, {
        refreshToken: randomBytes(32).toString("base64url"),
      }),
      "UNAUTHENTICATED",
      "REFRESH_TOKEN_INVALID",
    );
  });

  it("signin accepts the account's email, in any letter case, instead of the username", async () => {
    const server = ctx.server;
    const account = newAccount("mail");
    const created = expectData(await server.execute(SignupDocument, { input: account })).signup;

    const mixedCase = account.email
      .replace(/^./, (c) => c.toUpperCase())
      .replace("@example.com", "@Example.COM");
    for (const email of [account.email, account.email.toUpperCase(), mixedCase]) {
      const payload = await signin(server, email, account.password);
      expect(payload.user.id).toBe(created.id);
      expect(payload.user.username).toBe(account.username);
      expect(
        expectData(await userContent(server, { token: payload.accessToken })).userContent,
      ).toBe("User Content.");
    }

    expectError(
      await server.execute(SigninDocument, {
        input: { username: account.email, password: `${account.password}-wrong` },
      }),
      "UNAUTHENTICATED",
      "INVALID_CREDENTIALS",
    );
  });

  it("the AuthPayload's expiry timestamps match the configured TTLs", async () => {
    const server = shortServer();
    const account = newAccount("ttl");
    expectData(await server.execute(SignupDocument, { input: account }));

    let before = clock.nowMs();
    const signedIn = await signin(server, account.username, account.password);
    let after = clock.nowMs();
    expectWithin(
      signedIn.accessTokenExpiresAt,
      before + SHORT_ACCESS_TTL * 1000,
      after + SHORT_ACCESS_TTL * 1000,
    );
    expectWithin(
      signedIn.refreshTokenExpiresAt,
      before + SHORT_REFRESH_TTL * 1000,
      after + SHORT_REFRESH_TTL * 1000,
    );

    before = clock.nowMs();
    const refreshed = expectData(
      await server.execute(RefreshTokenDocument, { refreshToken: signedIn.refreshToken }),
    ).refreshToken;
    after = clock.nowMs();
    expectWithin(
      refreshed.accessTokenExpiresAt,
      before + SHORT_ACCESS_TTL * 1000,
      after + SHORT_ACCESS_TTL * 1000,
    );
    expectWithin(
      refreshed.refreshTokenExpiresAt,
      before + SHORT_REFRESH_TTL * 1000,
      after + SHORT_REFRESH_TTL * 1000,
    );

    // The default instance's TTLs (15 minutes, 7 days) come through the same way.
    const main = ctx.server;
    const other = newAccount("ttl");
    expectData(await main.execute(SignupDocument, { input: other }));
    before = Date.now();
    const longLived = await signin(main, other.username, other.password);
    after = Date.now();
    const accessTtlMs = main.config.accessTokenTtlSeconds * 1000;
    const refreshTtlMs = main.config.refreshTokenTtlSeconds * 1000;
    expect(accessTtlMs).toBe(900_000);
    expect(refreshTtlMs).toBe(604_800_000);
    expectWithin(longLived.accessTokenExpiresAt, before + accessTtlMs, after + accessTtlMs);
    expectWithin(longLived.refreshTokenExpiresAt, before + refreshTtlMs, after + refreshTtlMs);
  });

  it("the tutorial's x-access-token header works like Authorization: Bearer", async () => {
    const server = ctx.server;
    const account = newAccount("legacy");
    expectData(await server.execute(SignupDocument, { input: account }));
    const payload = await signin(server, account.username, account.password);

    expect(expectData(await userContent(server, { legacy: payload.accessToken })).userContent).toBe(
      "User Content.",
    );
    expect(expectData(await userContent(server, { token: payload.accessToken })).userContent).toBe(
      "User Content.",
    );

    // A token that is there but bad is reported, not treated as an anonymous request.
    const [header, claims] = payload.accessToken.split(".");
    const tampered = `${header}.${claims}.${randomBytes(32).toString("base64url")}`;
    expectError(
      await userContent(server, { legacy: tampered }),
      "UNAUTHENTICATED",
      "TOKEN_INVALID",
    );
    expectError(await userContent(server, { token: tampered }), "UNAUTHENTICATED", "TOKEN_INVALID");

    const anonymous = expectError(await userContent(server, {}), "UNAUTHENTICATED");
    expect(anonymous.extensions?.reason).toBeUndefined();
  });
});
