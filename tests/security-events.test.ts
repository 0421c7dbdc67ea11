import { RefreshTokenDocument, SetUserRolesDocument, SigninDocument } from "./generated/graphql";
import { ManualClock } from "./setup/clock";
import {
  createSignedInUser,
  expectData,
  expectError,
  signinAsAdmin,
  useTestServer,
} from "./setup/kit";

interface EventLine {
  msg: string;
  event: string;
  [key: string]: unknown;
}

/**
 * Security events get log lines of their own: in the request log they would all look like an
 * UNAUTHENTICATED, and an operator could not tell a typo from a lockout or a stolen token.
 */
describe("security events in the log", () => {
  const clock = new ManualClock();
  const ctx = useTestServer({ SIGNIN_MAX_FAILURES: "3", SIGNIN_LOCKOUT_BASE: "60" }, { clock });

  const events = (): EventLine[] =>
    ctx.server.logs
      .map((line) => JSON.parse(line) as EventLine)
      .filter((line) => line.msg === "security event");

  it("logs a failed signin with its reason, and the lockout it starts, without the password", async () => {
    const user = await createSignedInUser(ctx.server);
    const guesses = ["guess-one-1", "guess-two-2", "guess-three-3"];
    for (const password of guesses) {
      expectError(
        await ctx.server.execute(SigninDocument, {
          input: { username: user.user.username, password },
        }),
        "UNAUTHENTICATED",
        "INVALID_CREDENTIALS",
      );
    }
    const mine = events().filter((e) => e.userId === user.user.id);
    expect(mine.filter((e) => e.event === "signin_failed")).toHaveLength(3);
    expect(mine.find((e) => e.event === "signin_failed")).toMatchObject({
      reason: "INVALID_CREDENTIALS",
      clientIp: expect.any(String),
    });
    expect(mine.filter((e) => e.event === "lockout_started")).toEqual([
      expect.objectContaining({ scope: "account-address" }),
    ]);

    expectError(
      await ctx.server.execute(SigninDocument, {
        input: { username: user.user.username, password: user.password },
      }),
      "UNAUTHENTICATED",
      "TOO_MANY_ATTEMPTS",
    );
    expect(
      events().filter((e) => e.userId === user.user.id && e.event === "signin_throttled"),
    ).toHaveLength(1);

    const text = ctx.server.logs.join("\n");
    for (const secret of [...guesses, user.password]) expect(text).not.toContain(secret);
  });

  it("logs refresh-token reuse with the session it ended, without the token", async () => {
    const user = await createSignedInUser(ctx.server);
    expectData(await ctx.server.execute(RefreshTokenDocument, { refreshToken: user.refreshToken }));
    clock.advance(11);
    expectError(
      await ctx.server.execute(RefreshTokenDocument, { refreshToken: user.refreshToken }),
      "UNAUTHENTICATED",
      "REFRESH_TOKEN_REUSED",
    );
    expect(events().filter((e) => e.event === "refresh_token_reused")).toContainEqual(
      expect.objectContaining({ userId: user.user.id, sessionId: user.sessionId }),
    );
    expect(ctx.server.logs.join("\n")).not.toContain(user.refreshToken);
  });

  it("logs a role change with who made it", async () => {
    const admin = await signinAsAdmin(ctx.server);
    const user = await createSignedInUser(ctx.server);
    expectData(
      await ctx.server.execute(
        SetUserRolesDocument,
        { userId: user.user.id, roles: ["USER", "MODERATOR"] },
        { token: admin.accessToken },
      ),
    );
    expect(events().filter((e) => e.event === "roles_changed")).toContainEqual(
      expect.objectContaining({
        userId: user.user.id,
        roles: ["USER", "MODERATOR"],
        by: admin.user.id,
      }),
    );
  });
});
