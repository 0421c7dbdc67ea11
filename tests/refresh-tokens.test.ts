import { randomBytes } from "node:crypto";
import mongoose from "mongoose";
import {
  RefreshTokenDocument,
  SignoutAllDocument,
  SignoutDocument,
  SignupDocument,
  UserContentDocument,
} from "./generated/graphql";
import {
  type BodyAuthPayload,
  createSignedInUser,
  expectData,
  expectError,
  inBody,
  newAccount,
  signin,
  useTestServer,
} from "./setup/kit";
import { ManualClock } from "./setup/clock";
import { startTestServer, type TestServer } from "./setup/test-server";

/** REFRESH_REUSE_GRACE's default: a replay within it is a second tab, after it an attack. */
const GRACE_SECONDS = 10;

async function refresh(server: TestServer, refreshToken: string) {
  return server.execute(RefreshTokenDocument, { refreshToken });
}

async function refreshed(server: TestServer, refreshToken: string): Promise<BodyAuthPayload> {
  return inBody(expectData(await refresh(server, refreshToken)).refreshToken);
}

/** A user with two independent sessions (two signins). */
async function userWithTwoSessions(server: TestServer) {
  const account = newAccount("rt");
  expectData(await server.execute(SignupDocument, { input: account }));
  const first = await signin(server, account.username, account.password);
  const second = await signin(server, account.username, account.password);
  return { account, first, second };
}

describe("refresh tokens: rotation, reuse detection, signout", () => {
  const clock = new ManualClock();
  const ctx = useTestServer({}, { clock });

  it("each refresh returns a new refresh token and spends the one presented", async () => {
    const server = ctx.server;
    const { first } = await userWithTwoSessions(server);

    const second = await refreshed(server, first.refreshToken);
    const third = await refreshed(server, second.refreshToken);
    const tokens = [first.refreshToken, second.refreshToken, third.refreshToken];
    expect(new Set(tokens).size).toBe(3);
    expect(second.user.id).toBe(first.user.id);
    expect(third.user.id).toBe(first.user.id);

    clock.advance(GRACE_SECONDS + 1);
    expectError(
      await refresh(server, second.refreshToken),
      "UNAUTHENTICATED",
      "REFRESH_TOKEN_REUSED",
    );
  });

  it("a spent refresh token revokes its whole session, but not the user's other sessions", async () => {
    const server = ctx.server;
    const { first, second: otherSession } = await userWithTwoSessions(server);

    const next = await refreshed(server, first.refreshToken);
    const newest = await refreshed(server, next.refreshToken);

    clock.advance(GRACE_SECONDS + 1);
    expectError(
      await refresh(server, first.refreshToken),
      "UNAUTHENTICATED",
      "REFRESH_TOKEN_REUSED",
    );
    expectError(
      await refresh(server, newest.refreshToken),
      "UNAUTHENTICATED",
      "REFRESH_TOKEN_INVALID",
    );

    const stillAlive = await refreshed(server, otherSession.refreshToken);
    expect(stillAlive.user.id).toBe(first.user.id);
    expect(await refreshed(server, stillAlive.refreshToken)).toMatchObject({
      user: { id: first.user.id },
    });
  });

  it("a token presented again within the grace gets a working pair of the same session", async () => {
    const server = ctx.server;
    const { first } = await userWithTwoSessions(server);
    const tabA = await refreshed(server, first.refreshToken);
    clock.advance(GRACE_SECONDS - 1);
    const tabB = await refreshed(server, first.refreshToken);

    expect(tabB.refreshToken).not.toBe(tabA.refreshToken);
    expect(tabB.sessionId).toBe(tabA.sessionId);
    expect(
      expectData(await server.execute(UserContentDocument, {}, { token: tabB.accessToken }))
        .userContent,
    ).toBe("User Content.");
    // Both tabs hold the session's one live place in its chain: the first to refresh moves
    // it on, and the other tab's token is then spent like any other.
    const moved = await refreshed(server, tabB.refreshToken);
    expect(moved.sessionId).toBe(tabA.sessionId);
    clock.advance(GRACE_SECONDS + 1);
    expectError(
      await refresh(server, tabA.refreshToken),
      "UNAUTHENTICATED",
      "REFRESH_TOKEN_REUSED",
    );
    expectError(
      await refresh(server, moved.refreshToken),
      "UNAUTHENTICATED",
      "REFRESH_TOKEN_INVALID",
    );
  });

  it("a replay after the grace ends the whole session", async () => {
    const server = ctx.server;
    const { first } = await userWithTwoSessions(server);
    const next = await refreshed(server, first.refreshToken);
    clock.advance(GRACE_SECONDS + 1);

    expectError(
      await refresh(server, first.refreshToken),
      "UNAUTHENTICATED",
      "REFRESH_TOKEN_REUSED",
    );
    expectError(
      await refresh(server, next.refreshToken),
      "UNAUTHENTICATED",
      "REFRESH_TOKEN_INVALID",
    );
  });

  it("20 concurrent refreshes with one token all succeed within the grace and leave one live chain", async () => {
    const server = ctx.server;
    const { first } = await userWithTwoSessions(server);

    const responses = await Promise.all(
      Array.from({ length: 20 }, () => refresh(server, first.refreshToken)),
    );
    const pairs = responses.map((response) => inBody(expectData(response).refreshToken));
    expect(new Set(pairs.map((p) => p.refreshToken)).size).toBe(20);
    expect(new Set(pairs.map((p) => p.sessionId))).toEqual(new Set([first.sessionId]));

    // One of the twenty moves the chain on; the other nineteen are now spent tokens.
    const [chosen, ...others] = pairs;
    const moved = await refreshed(server, chosen!.refreshToken);
    clock.advance(GRACE_SECONDS + 1);
    const stillLive = await refreshed(server, moved.refreshToken);
    expect(stillLive.sessionId).toBe(first.sessionId);
    expectError(
      await refresh(server, others[7]!.refreshToken),
      "UNAUTHENTICATED",
      "REFRESH_TOKEN_REUSED",
    );
    expectError(
      await refresh(server, stillLive.refreshToken),
      "UNAUTHENTICATED",
      "REFRESH_TOKEN_INVALID",
    );
  });

  it("signout ends that session only", async () => {
    const server = ctx.server;
    const { first, second } = await userWithTwoSessions(server);
    const rotated = await refreshed(server, first.refreshToken);

    expect(
      expectData(await server.execute(SignoutDocument, { refreshToken: rotated.refreshToken }))
        .signout,
    ).toBe(true);
    expectError(
      await refresh(server, rotated.refreshToken),
      "UNAUTHENTICATED",
      "REFRESH_TOKEN_INVALID",
    );

    expect((await refreshed(server, second.refreshToken)).user.id).toBe(first.user.id);
  });

  it("signout with an unknown refresh token is REFRESH_TOKEN_INVALID", async () => {
    expectError(
      await ctx.server.execute(SignoutDocument, {
        refreshToken: randomBytes(32).toString("base64url"),
      }),
      "UNAUTHENTICATED",
      "REFRESH_TOKEN_INVALID",
    );
  });

  it("signoutAll needs a signed-in caller", async () => {
    const error = expectError(await ctx.server.execute(SignoutAllDocument), "UNAUTHENTICATED");
    expect(error.extensions?.reason).toBeUndefined();
  });

  it("signoutAll ends every session of the caller and no one else's", async () => {
    const server = ctx.server;
    const { first, second } = await userWithTwoSessions(server);
    const bystander = await createSignedInUser(server);

    expect(
      expectData(await server.execute(SignoutAllDocument, {}, { token: first.accessToken }))
        .signoutAll,
    ).toBe(true);

    for (const session of [first, second]) {
      expectError(
        await refresh(server, session.refreshToken),
        "UNAUTHENTICATED",
        "REFRESH_TOKEN_INVALID",
      );
    }
    expect((await refreshed(server, bystander.refreshToken)).user.id).toBe(bystander.user.id);
  });

  it("a refresh token carries at least 256 bits, and refreshed access tokens authorize", async () => {
    const server = ctx.server;
    const { first } = await userWithTwoSessions(server);
    const next = await refreshed(server, first.refreshToken);

    // A session's first token is a bare secret; a rotated one names the record that issued it.
    expect(first.refreshToken).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(next.refreshToken).toMatch(/^[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}$/);
    expect(
      expectData(await server.execute(UserContentDocument, {}, { token: next.accessToken }))
        .userContent,
    ).toBe("User Content.");
  });

  it("the database never holds a refresh token in plain text", async () => {
    const server = ctx.server;
    const { first, second } = await userWithTwoSessions(server);
    const next = await refreshed(server, first.refreshToken);

    const db = mongoose.connection.db;
    if (!db) throw new Error("the test database is not connected");
    const tokens = await db.collection("refresh_tokens").find({}).toArray();
    // From this test alone: the tokens of two signins, and the rotation that issued a third.
    expect(tokens.length).toBeGreaterThanOrEqual(2);
    const rotations = await db.collection("refresh_rotations").find({}).toArray();
    expect(rotations.length).toBeGreaterThanOrEqual(1);
    const stored = [...tokens, ...rotations].map((doc) => JSON.stringify(doc));
    // The secret part of each token: the whole of a first token, after the dot of a rotated one.
    const secrets = [first.refreshToken, second.refreshToken, next.refreshToken].map((token) =>
      token.slice(token.indexOf(".") + 1),
    );
    expect(secrets.every((secret) => secret.length === 43)).toBe(true);
    for (const secret of secrets) {
      expect(stored.filter((text) => text.includes(secret))).toEqual([]);
    }
  });

  it("a rotated token is refused with any other secret, and the record it names is not spent by it", async () => {
    const server = ctx.server;
    const { first } = await userWithTwoSessions(server);
    const next = await refreshed(server, first.refreshToken);
    const issuer = next.refreshToken.slice(0, next.refreshToken.indexOf("."));

    for (const forged of [
      `${issuer}.${randomBytes(32).toString("base64url")}`,
      `${issuer}.`,
      `${issuer}.${next.refreshToken.slice(-43, -1)}`,
      `${issuer.slice(1)}.${next.refreshToken.slice(-43)}`,
      `.${next.refreshToken.slice(-43)}`,
      next.refreshToken.slice(-43),
    ]) {
      expectError(await refresh(server, forged), "UNAUTHENTICATED", "REFRESH_TOKEN_INVALID");
    }
    // None of that spent anything or ended the session: the real token still rotates.
    const after = await refreshed(server, next.refreshToken);
    expect(after.sessionId).toBe(first.sessionId);
    expect(after.refreshToken.startsWith(`${issuer}.`)).toBe(false);
  });

  describe("with REFRESH_REUSE_GRACE 0 (the strict rule of RFC 9700)", () => {
    let strict: TestServer | undefined;
    beforeAll(async () => {
      // A clock that stands still: every replay lands in the millisecond of its rotation,
      // which a grace of 0 must still count as reuse.
      strict = await startTestServer({ REFRESH_REUSE_GRACE: "0" }, { clock: new ManualClock() });
    });
    afterAll(async () => {
      await strict?.close();
    });

    it("of concurrent refreshes with one token exactly one succeeds; the others are reuse", async () => {
      const server = strict!;
      const { first } = await userWithTwoSessions(server);

      const responses = await Promise.all(
        Array.from({ length: 5 }, () => refresh(server, first.refreshToken)),
      );
      const winners = responses.filter((r) => !r.errors && r.data?.refreshToken);
      expect(winners).toHaveLength(1);
      const losers = responses.filter((r) => r.errors);
      expect(losers).toHaveLength(4);
      for (const loser of losers) {
        expectError(loser, "UNAUTHENTICATED", "REFRESH_TOKEN_REUSED");
      }
      // The race counted as reuse, so the winner's token belongs to a revoked session.
      const winner = inBody(winners[0]!.data!.refreshToken);
      expectError(
        await refresh(server, winner.refreshToken),
        "UNAUTHENTICATED",
        "REFRESH_TOKEN_INVALID",
      );
    });
  });

  describe("with SESSION_MAX_AGE 20 and REFRESH_TOKEN_TTL 20", () => {
    const cappedClock = new ManualClock();
    let capped: TestServer | undefined;
    beforeAll(async () => {
      capped = await startTestServer(
        { REFRESH_TOKEN_TTL: "20", SESSION_MAX_AGE: "20" },
        { clock: cappedClock },
      );
    });
    afterAll(async () => {
      await capped?.close();
    });

    it("refreshing never extends a session past its maximum age", async () => {
      if (!capped) throw new Error("the capped server is not started yet");
      const server = capped;
      const account = newAccount("maxage");
      expectData(await server.execute(SignupDocument, { input: account }));

      const signedIn = await signin(server, account.username, account.password);
      const sessionEnd = cappedClock.nowMs() + 20_000;

      cappedClock.advance(7);
      const a = await refreshed(server, signedIn.refreshToken);
      cappedClock.advance(7);
      const b = await refreshed(server, a.refreshToken);
      for (const payload of [signedIn, a, b]) {
        expect(new Date(payload.refreshTokenExpiresAt).getTime()).toBeLessThanOrEqual(sessionEnd);
      }
      // Rotation kept the access side working throughout.
      expect(
        expectData(await server.execute(UserContentDocument, {}, { token: b.accessToken }))
          .userContent,
      ).toBe("User Content.");

      // b's own inactivity deadline (issue + 20 s) is still ahead; the session's end is not.
      cappedClock.advance(7);
      expectError(
        await refresh(server, b.refreshToken),
        "UNAUTHENTICATED",
        "REFRESH_TOKEN_EXPIRED",
      );
    });

    it("a refresh token unused for REFRESH_TOKEN_TTL has expired", async () => {
      const server = capped!;
      const account = newAccount("idle");
      expectData(await server.execute(SignupDocument, { input: account }));
      const signedIn = await signin(server, account.username, account.password);
      cappedClock.advance(19);
      const fresh = await refreshed(server, signedIn.refreshToken);
      expect(fresh.sessionId).toBe(signedIn.sessionId);
      const other = await signin(server, account.username, account.password);
      cappedClock.advance(20);
      expectError(
        await refresh(server, other.refreshToken),
        "UNAUTHENTICATED",
        "REFRESH_TOKEN_EXPIRED",
      );
    });
  });
});
