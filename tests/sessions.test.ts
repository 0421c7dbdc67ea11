import {
  MySessionsDocument,
  RefreshTokenDocument,
  RevokeOtherSessionsDocument,
  RevokeSessionDocument,
  SigninDocument,
  SignupDocument,
  UserContentDocument,
} from "./generated/graphql";
import { ManualClock } from "./setup/clock";
import {
  createSignedInUser,
  expectData,
  expectError,
  inBody,
  newAccount,
  useTestServer,
} from "./setup/kit";
import { startTestServer, type TestServer } from "./setup/test-server";

async function signinAs(
  server: TestServer,
  account: { username: string; password: string },
  userAgent: string,
) {
  return inBody(
    expectData(
      await server.execute(
        SigninDocument,
        { input: { username: account.username, password: account.password } },
        { headers: { "user-agent": userAgent } },
      ),
    ).signin,
  );
}

describe("sessions a user can see and end", () => {
  const clock = new ManualClock();
  const ctx = useTestServer({}, { clock });

  async function accountWithThreeDevices() {
    const account = newAccount("devices");
    expectData(await ctx.server.execute(SignupDocument, { input: account }));
    const laptop = await signinAs(ctx.server, account, "Laptop/1.0");
    clock.advance(60);
    const phone = await signinAs(ctx.server, account, "Phone/2.0");
    clock.advance(60);
    const tablet = await signinAs(ctx.server, account, "Tablet/3.0");
    return { account, laptop, phone, tablet };
  }

  const mySessions = async (token: string) =>
    expectData(await ctx.server.execute(MySessionsDocument, {}, { token })).mySessions;

  it("mySessions lists the caller's active sessions, newest first, with the current one marked", async () => {
    const { laptop, phone, tablet } = await accountWithThreeDevices();
    const sessions = await mySessions(phone.accessToken);

    expect(sessions.map((s) => s.id)).toEqual([
      tablet.sessionId,
      phone.sessionId,
      laptop.sessionId,
    ]);
    expect(sessions.map((s) => s.userAgent)).toEqual(["Tablet/3.0", "Phone/2.0", "Laptop/1.0"]);
    expect(sessions.map((s) => s.current)).toEqual([false, true, false]);
    for (const session of sessions) {
      expect(session.ipAtSignin).toBe("127.0.0.1");
      expect(session.ipAtLastRefresh).toBeNull();
      expect(session.lastUsedAt).toBe(session.createdAt);
    }
  });

  it("a refresh updates lastUsedAt and the address of the last refresh; reads write nothing", async () => {
    const { laptop } = await accountWithThreeDevices();
    const before = (await mySessions(laptop.accessToken)).find((s) => s.current)!;
    clock.advance(300);
    expectData(await ctx.server.execute(UserContentDocument, {}, { token: laptop.accessToken }));
    expect((await mySessions(laptop.accessToken)).find((s) => s.current)!.lastUsedAt).toBe(
      before.lastUsedAt,
    );

    const refreshed = inBody(
      expectData(
        await ctx.server.execute(
          RefreshTokenDocument,
          { refreshToken: laptop.refreshToken },
          { headers: { "user-agent": "Laptop/1.1" } },
        ),
      ).refreshToken,
    );
    const after = (await mySessions(refreshed.accessToken)).find((s) => s.current)!;
    expect(after.id).toBe(before.id);
    expect(new Date(after.lastUsedAt).getTime()).toBe(clock.nowMs());
    expect(after.ipAtLastRefresh).toBe("127.0.0.1");
    expect(after.userAgent).toBe("Laptop/1.1");
    expect(after.createdAt).toBe(before.createdAt);
  });

  it("keeps a user agent to 256 characters", async () => {
    const account = newAccount("ua");
    expectData(await ctx.server.execute(SignupDocument, { input: account }));
    const signedIn = await signinAs(ctx.server, account, `Agent/${"x".repeat(900)}`);
    const [session] = await mySessions(signedIn.accessToken);
    expect(session!.userAgent).toHaveLength(256);
  });

  it("revokeSession ends one session: its refresh token stops at once, the others live on", async () => {
    const { laptop, phone, tablet } = await accountWithThreeDevices();
    expect(
      expectData(
        await ctx.server.execute(
          RevokeSessionDocument,
          { id: tablet.sessionId },
          { token: laptop.accessToken },
        ),
      ).revokeSession,
    ).toBe(true);

    expectError(
      await ctx.server.execute(RefreshTokenDocument, { refreshToken: tablet.refreshToken }),
      "UNAUTHENTICATED",
      "REFRESH_TOKEN_INVALID",
    );
    expect((await mySessions(laptop.accessToken)).map((s) => s.id)).toEqual([
      phone.sessionId,
      laptop.sessionId,
    ]);
    expectData(
      await ctx.server.execute(RefreshTokenDocument, { refreshToken: phone.refreshToken }),
    );
  });

  it("answers NOT_FOUND for another user's session, an ended one and a made-up id, and ends nothing", async () => {
    const mine = await accountWithThreeDevices();
    const someoneElse = await createSignedInUser(ctx.server);
    expectData(
      await ctx.server.execute(
        RevokeSessionDocument,
        { id: mine.tablet.sessionId },
        { token: mine.laptop.accessToken },
      ),
    );
    for (const id of [someoneElse.sessionId, mine.tablet.sessionId, "0".repeat(24), "nonsense"]) {
      const error = expectError(
        await ctx.server.execute(RevokeSessionDocument, { id }, { token: mine.laptop.accessToken }),
        "NOT_FOUND",
      );
      expect(error.message).toBe("You have no session with this id.");
    }
    expectData(
      await ctx.server.execute(RefreshTokenDocument, { refreshToken: someoneElse.refreshToken }),
    );
  });

  it("revokeOtherSessions ends all but the current session and says how many", async () => {
    const { laptop, phone, tablet } = await accountWithThreeDevices();
    expect(
      expectData(
        await ctx.server.execute(RevokeOtherSessionsDocument, {}, { token: phone.accessToken }),
      ).revokeOtherSessions,
    ).toBe(2);
    expect((await mySessions(phone.accessToken)).map((s) => s.id)).toEqual([phone.sessionId]);
    for (const ended of [laptop, tablet]) {
      expectError(
        await ctx.server.execute(RefreshTokenDocument, { refreshToken: ended.refreshToken }),
        "UNAUTHENTICATED",
        "REFRESH_TOKEN_INVALID",
      );
    }
    expect(
      expectData(
        await ctx.server.execute(RevokeOtherSessionsDocument, {}, { token: phone.accessToken }),
      ).revokeOtherSessions,
    ).toBe(0);
  });

  it("does not list sessions past their maximum age", async () => {
    const { account } = await accountWithThreeDevices();
    clock.advance(30 * 86_400);
    const fresh = await signinAs(ctx.server, account, "Desktop/4.0");
    expect((await mySessions(fresh.accessToken)).map((s) => s.userAgent)).toEqual(["Desktop/4.0"]);
  });

  it("needs a signed-in caller", async () => {
    expectError(await ctx.server.execute(MySessionsDocument), "UNAUTHENTICATED");
    expectError(await ctx.server.execute(RevokeOtherSessionsDocument), "UNAUTHENTICATED");
  });

  it("ends the oldest session past 50 live ones per account", async () => {
    const account = newAccount("many");
    expectData(await ctx.server.execute(SignupDocument, { input: account }));
    const first = await signinAs(ctx.server, account, "first");
    const all = [first];
    for (let i = 0; i < 50; i++) {
      clock.advance(1);
      all.push(await signinAs(ctx.server, account, `device-${i}`));
    }
    const listed = await mySessions(all.at(-1)!.accessToken);
    expect(listed).toHaveLength(50);
    expect(listed.map((s) => s.id)).not.toContain(first.sessionId);
    expectError(
      await ctx.server.execute(RefreshTokenDocument, { refreshToken: first.refreshToken }),
      "UNAUTHENTICATED",
      "REFRESH_TOKEN_INVALID",
    );
  });

  it("reaches access tokens at their expiry by default, and at once with REVOKED_SESSION_CHECK=true", async () => {
    const lenient = await startTestServer();
    const strict = await startTestServer({ REVOKED_SESSION_CHECK: "true" });
    try {
      for (const [server, stillWorks] of [
        [lenient, true],
        [strict, false],
      ] as const) {
        const user = await createSignedInUser(server);
        const other = await createSignedInUser(server);
        expectData(
          await server.execute(RevokeOtherSessionsDocument, {}, { token: other.accessToken }),
        );
        // Signed in twice: end the session of the first token from the second one.
        const second = inBody(
          expectData(
            await server.execute(SigninDocument, {
              input: { username: user.user.username, password: user.password },
            }),
          ).signin,
        );
        expectData(
          await server.execute(
            RevokeSessionDocument,
            { id: user.sessionId },
            { token: second.accessToken },
          ),
        );
        const response = await server.execute(UserContentDocument, {}, { token: user.accessToken });
        if (stillWorks) expect(expectData(response).userContent).toBe("User Content.");
        else expectError(response, "UNAUTHENTICATED", "SESSION_REVOKED");
        // The live session's token works on both.
        expectData(await server.execute(UserContentDocument, {}, { token: second.accessToken }));
      }
    } finally {
      await lenient.close();
      await strict.close();
    }
  });
});
