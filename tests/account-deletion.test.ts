import mongoose from "mongoose";
import {
  DeleteAccountDocument,
  MeDocument,
  RefreshTokenDocument,
  SigninDocument,
  SignupDocument,
  UserContentDocument,
} from "./generated/graphql";
import { ManualClock } from "./setup/clock";
import {
  ADMIN,
  createSignedInUser,
  expectData,
  expectError,
  signin,
  signinAsAdmin,
  useTestServer,
} from "./setup/kit";

describe("deleteAccount", () => {
  const clock = new ManualClock();
  const ctx = useTestServer({ SIGNIN_MAX_FAILURES: "3" }, { clock });
  const db = () => mongoose.connection.db!;
  const purge = () => ctx.server.app.background.runUntilDone("account-purge");

  const deleteAccount = (token: string, password: string) =>
    ctx.server.execute(DeleteAccountDocument, { password }, { token });

  it("refuses a wrong password as INVALID_CREDENTIALS, counted by the signin throttle", async () => {
    const user = await createSignedInUser(ctx.server);
    for (const guess of ["wrong-one-1", "wrong-two-2", "wrong-three"]) {
      expectError(
        await deleteAccount(user.accessToken, guess),
        "UNAUTHENTICATED",
        "INVALID_CREDENTIALS",
      );
    }
    expectError(
      await deleteAccount(user.accessToken, user.password),
      "UNAUTHENTICATED",
      "TOO_MANY_ATTEMPTS",
    );
    // Nothing was deleted: the account signs in (from elsewhere: this address is locked).
    clock.advance(3600);
    await signin(ctx.server, user.user.username, user.password);
  });

  it("deletes the account: no signin, refresh tokens dead at once, names free again", async () => {
    const user = await createSignedInUser(ctx.server);
    const otherSession = await signin(ctx.server, user.user.username, user.password);
    expect(expectData(await deleteAccount(user.accessToken, user.password)).deleteAccount).toBe(
      true,
    );

    expectError(
      await ctx.server.execute(SigninDocument, {
        input: { username: user.user.username, password: user.password },
      }),
      "UNAUTHENTICATED",
      "INVALID_CREDENTIALS",
    );
    for (const session of [user, otherSession]) {
      expectError(
        await ctx.server.execute(RefreshTokenDocument, { refreshToken: session.refreshToken }),
        "UNAUTHENTICATED",
        "REFRESH_TOKEN_INVALID",
      );
    }
    // Access tokens live out their TTL (documented); the account itself is gone.
    expectData(await ctx.server.execute(UserContentDocument, {}, { token: user.accessToken }));
    expect(
      expectData(await ctx.server.execute(MeDocument, {}, { token: user.accessToken })).me,
    ).toBeNull();

    const again = {
      username: user.user.username,
      email: user.user.email,
      password: "a new Passw0rd",
    };
    expect(
      expectData(await ctx.server.execute(SignupDocument, { input: again })).signup.id,
    ).not.toBe(user.user.id);
  });

  it("leaves nothing keyed to the account once the purge has run", async () => {
    const user = await createSignedInUser(ctx.server);
    const rotated = expectData(
      await ctx.server.execute(RefreshTokenDocument, { refreshToken: user.refreshToken }),
    ).refreshToken;
    expect(rotated.user.id).toBe(user.user.id);
    expectError(
      await ctx.server.execute(SigninDocument, {
        input: { username: user.user.username, password: "a wrong one" },
      }),
      "UNAUTHENTICATED",
      "INVALID_CREDENTIALS",
    );
    expectData(await deleteAccount(rotated.accessToken, user.password));
    await purge();

    const id = new mongoose.Types.ObjectId(user.user.id);
    const sessions = await db().collection("sessions").find({ userId: id }).toArray();
    expect(sessions).toEqual([]);
    expect(await db().collection("refresh_tokens").countDocuments({ userId: id })).toBe(0);
    expect(
      await db()
        .collection("refresh_rotations")
        .countDocuments({ sessionId: new mongoose.Types.ObjectId(user.sessionId) }),
    ).toBe(0);
    expect(await db().collection("users").countDocuments({ _id: id })).toBe(0);
    expect(await db().collection("user_activity").countDocuments({ _id: id })).toBe(0);
    expect(
      await db()
        .collection("session_activity")
        .countDocuments({ _id: new mongoose.Types.ObjectId(user.sessionId) }),
    ).toBe(0);
    expect(
      await db()
        .collection<{ _id: string }>("signin_throttle")
        .countDocuments({ _id: `account:user:${user.user.id}` }),
    ).toBe(0);
    expect(
      await db().collection<{ _id: string }>("user_sessions").countDocuments({ _id: user.user.id }),
    ).toBe(0);
    // Old versions of the account held its email and password hash.
    expect(
      await db()
        .collection("record_versions")
        .countDocuments({ k: `users:${user.user.id}` }),
    ).toBe(0);
    expect(await db().collection("account_purges").countDocuments()).toBe(0);
    const everything = JSON.stringify(
      await Promise.all(
        ["users", "sessions", "refresh_tokens", "record_versions", "user_sessions"].map((c) =>
          db().collection(c).find().toArray(),
        ),
      ),
    );
    expect(everything).not.toContain(user.user.email);
  });

  it("refuses the last administrator with LAST_ADMIN and deletes nothing", async () => {
    const admin = await signinAsAdmin(ctx.server);
    const error = expectError(
      await deleteAccount(admin.accessToken, ADMIN.password),
      "BAD_USER_INPUT",
      "LAST_ADMIN",
    );
    expect(error.message).toMatch(/last administrator/);
    await signinAsAdmin(ctx.server);
    await purge();
    await signinAsAdmin(ctx.server);
  });

  it("needs a signed-in caller", async () => {
    expectError(
      await ctx.server.execute(DeleteAccountDocument, { password: "whatever-1" }),
      "UNAUTHENTICATED",
    );
  });
});
