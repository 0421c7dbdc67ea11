import mongoose from "mongoose";
import { RefreshTokenDocument, SigninDocument, SignoutDocument } from "./generated/graphql";
import { ManualClock } from "./setup/clock";
import {
  createSignedInUser,
  expectData,
  expectError,
  inBody,
  signin,
  useTestServer,
} from "./setup/kit";

const DAY = 86_400;
const RETENTION_DAYS = 30;

/**
 * The sweep keeps the database from growing forever: what ended or expired more than
 * RETENTION_DAYS ago goes, what is younger stays (so a replay within retention is still
 * recognised as reuse). A year is simulated by moving the server's clock.
 */
describe("retention sweep", () => {
  const clock = new ManualClock();
  const ctx = useTestServer(
    { RETENTION_DAYS: String(RETENTION_DAYS), SIGNIN_MAX_FAILURES: "3" },
    { clock },
  );
  const db = () => mongoose.connection.db!;
  const sweep = () => ctx.server.app.background.runUntilDone("retention-sweep");
  const refresh = (refreshToken: string) =>
    ctx.server.execute(RefreshTokenDocument, { refreshToken });

  it("after a simulated year, keeps only what is within retention, and still catches reuse", async () => {
    const user = await createSignedInUser(ctx.server);
    let lastSpent = "";
    for (let month = 0; month < 12; month++) {
      // Each month: two sessions, a few rotations, one signed out, a few failed signins.
      const kept = await signin(ctx.server, user.user.username, user.password);
      const ended = await signin(ctx.server, user.user.username, user.password);
      let token = kept.refreshToken;
      for (let i = 0; i < 3; i++) {
        clock.advance(DAY);
        lastSpent = token;
        token = inBody(expectData(await refresh(token)).refreshToken).refreshToken;
      }
      expectData(await ctx.server.execute(SignoutDocument, { refreshToken: ended.refreshToken }));
      for (const guess of ["wrong-1", "wrong-2"]) {
        expectError(
          await ctx.server.execute(SigninDocument, {
            input: { username: user.user.username, password: guess },
          }),
          "UNAUTHENTICATED",
          "INVALID_CREDENTIALS",
        );
      }
      clock.advance(27 * DAY);
      await sweep();
    }

    const now = clock.nowMs();
    const cutoff = new Date(now - RETENTION_DAYS * DAY * 1000);
    const tokens = await db().collection("refresh_tokens").find().toArray();
    const rotations = await db().collection("refresh_rotations").find().toArray();
    const sessions = await db().collection("sessions").find().toArray();
    // Something recent is kept: the last month's tokens and sessions, not nothing at all.
    expect(tokens.length).toBeGreaterThan(0);
    expect(sessions.length).toBeGreaterThan(0);
    expect(tokens.filter((t) => (t.expiresAt as Date) < cutoff)).toEqual([]);
    expect(rotations.filter((r) => (r.expiresAt as Date) < cutoff)).toEqual([]);
    expect(
      sessions.filter(
        (s) => (s.expiresAt as Date) < cutoff || (s.revokedAt && (s.revokedAt as Date) < cutoff),
      ),
    ).toEqual([]);
    // A year of sessions (24) and rotations (36) would be there without the sweep.
    expect(sessions.length).toBeLessThan(6);
    expect(rotations.length).toBeLessThan(10);
    const activity = await db().collection("session_activity").find().toArray();
    const sessionIds = new Set(sessions.map((s) => String(s._id)));
    expect(activity.filter((a) => !sessionIds.has(String(a._id)))).toEqual([]);
    // Throttle records of failures long past, and versions their heads moved past, are gone.
    const throttle = await db().collection("signin_throttle").find().toArray();
    expect(throttle.filter((h) => (h.exp as Date).getTime() < now)).toEqual([]);
    const versions = await db().collection("record_versions").find().toArray();
    const superseded: unknown[] = [];
    for (const version of versions) {
      if ((version.at as Date).getTime() > now - 2 * DAY * 1000) continue;
      const [namespace, key] = [
        String(version.k).slice(0, String(version.k).indexOf(":")),
        String(version.k).slice(String(version.k).indexOf(":") + 1),
      ];
      const head =
        namespace === "users"
          ? await db()
              .collection("users")
              .findOne({ _id: new mongoose.Types.ObjectId(key) })
          : await db().collection<{ _id: string; v: number }>(namespace).findOne({ _id: key });
      if (head && (head.v as number) > (version.v as number)) superseded.push(version._id);
    }
    expect(superseded).toEqual([]);

    // The last month's spent token expired 27 days ago, within retention: still a replay.
    expectError(await refresh(lastSpent), "UNAUTHENTICATED", "REFRESH_TOKEN_REUSED");
  }, 240_000);

  it("removes an account left half made by a signup that crashed, and frees its names", async () => {
    const users = db().collection("users");
    const _id = new mongoose.Types.ObjectId();
    await users.insertOne({
      _id,
      username: "half_made",
      usernameKey: "half_made",
      email: "half_made@example.com",
      passwordHash: "$2b$04$notarealhashnotarealhashnotarealhashnotarealhashnot",
      roles: ["USER"],
      createdAt: new Date(clock.nowMs()),
      status: "pending",
      v: 0,
    });
    await sweep();
    expect(await users.findOne({ _id })).not.toBeNull();
    clock.advance(10 * 60);
    await sweep();
    expect(await users.findOne({ _id })).toBeNull();
  });
});
