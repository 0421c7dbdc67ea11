import mongoose from "mongoose";
import {
  DeleteAccountDocument,
  DeleteUserDocument,
  DisableUserDocument,
  EnableUserDocument,
  RefreshTokenDocument,
  RevokeUserSessionsDocument,
  SetUserRolesDocument,
  SigninDocument,
  SignupDocument,
  UserDocument,
  UsersDocument,
} from "./generated/graphql";
import {
  ADMIN,
  createSignedInUser,
  expectData,
  expectError,
  newAccount,
  signin,
  signinAsAdmin,
  uniqueName,
  useTestServer,
  type BodyAuthPayload,
} from "./setup/kit";
import type { TestServer } from "./setup/test-server";

describe("user administration", () => {
  const ctx = useTestServer();
  let admin: BodyAuthPayload;
  beforeAll(async () => {
    admin = await signinAsAdmin(ctx.server);
  });
  const asAdmin = {
    get token() {
      return admin.accessToken;
    },
  };

  describe("users(first, after, search, role, disabled)", () => {
    it("pages through every match exactly once, oldest first, with a total count", async () => {
      const prefix = uniqueName("page");
      const created: string[] = [];
      for (let i = 0; i < 25; i++) {
        const account = { ...newAccount(), username: `${prefix}_${String(i).padStart(2, "0")}` };
        account.email = `${account.username}@example.com`;
        created.push(
          expectData(await ctx.server.execute(SignupDocument, { input: account })).signup.id,
        );
      }
      const seen: string[] = [];
      let after: string | null | undefined;
      for (let page = 0; page < 3; page++) {
        const users = expectData(
          await ctx.server.execute(
            UsersDocument,
            { first: 10, after, search: prefix.toUpperCase() },
            { token: asAdmin.token },
          ),
        ).users;
        expect(users.totalCount).toBe(25);
        expect(users.edges.length).toBe(page < 2 ? 10 : 5);
        expect(users.pageInfo.hasNextPage).toBe(page < 2);
        seen.push(...users.edges.map((e) => e.node.id));
        after = users.pageInfo.endCursor;
      }
      expect(seen).toEqual(created);
    });

    it("searches email prefixes too, and filters by role and by disabled", async () => {
      const user = await createSignedInUser(ctx.server, ["USER", "MODERATOR"]);
      const byEmail = expectData(
        await ctx.server.execute(
          UsersDocument,
          { search: user.user.email.slice(0, 12).toUpperCase(), role: "MODERATOR" },
          { token: asAdmin.token },
        ),
      ).users;
      expect(byEmail.edges.map((e) => e.node.id)).toEqual([user.user.id]);
      expectData(
        await ctx.server.execute(
          DisableUserDocument,
          { id: user.user.id },
          { token: asAdmin.token },
        ),
      );
      const disabled = expectData(
        await ctx.server.execute(
          UsersDocument,
          { disabled: true, first: 100 },
          { token: asAdmin.token },
        ),
      ).users;
      expect(disabled.edges.map((e) => e.node.id)).toContain(user.user.id);
      const enabled = expectData(
        await ctx.server.execute(
          UsersDocument,
          { disabled: false, first: 100, search: user.user.username },
          { token: asAdmin.token },
        ),
      ).users;
      expect(enabled.totalCount).toBe(0);
    });

    it("treats search text as text, not as a pattern", async () => {
      const users = expectData(
        await ctx.server.execute(UsersDocument, { search: ".*" }, { token: asAdmin.token }),
      ).users;
      expect(users.totalCount).toBe(0);
    });

    it("refuses pages over 100, under 1, and cursors it did not give out", async () => {
      for (const first of [0, 101]) {
        const error = expectError(
          await ctx.server.execute(UsersDocument, { first }, { token: asAdmin.token }),
          "BAD_USER_INPUT",
        );
        expect(error.extensions?.field).toBe("first");
      }
      const error = expectError(
        await ctx.server.execute(
          UsersDocument,
          { after: "not-a-cursor" },
          { token: asAdmin.token },
        ),
        "BAD_USER_INPUT",
      );
      expect(error.extensions?.field).toBe("after");
    });

    it("is FORBIDDEN to a USER and UNAUTHENTICATED to nobody", async () => {
      const user = await createSignedInUser(ctx.server);
      expectError(
        await ctx.server.execute(UsersDocument, {}, { token: user.accessToken }),
        "FORBIDDEN",
      );
      expectError(await ctx.server.execute(UsersDocument, {}), "UNAUTHENTICATED");
    });
  });

  it("user(id) shows disabled, createdAt, lastSigninAt and the sessions", async () => {
    const user = await createSignedInUser(ctx.server);
    const shown = expectData(
      await ctx.server.execute(UserDocument, { id: user.user.id }, { token: asAdmin.token }),
    ).user!;
    expect(shown).toMatchObject({ id: user.user.id, disabled: false, disabledReason: null });
    expect(shown.lastSigninAt).not.toBeNull();
    expect(shown.sessions!.map((s) => s.id)).toContain(user.sessionId);
    expect(
      expectData(
        await ctx.server.execute(UserDocument, { id: "0".repeat(24) }, { token: asAdmin.token }),
      ).user,
    ).toBeNull();
  });

  it("a user cannot see sessions through User.sessions", async () => {
    const user = await createSignedInUser(ctx.server);
    const response = await ctx.server.post(
      JSON.stringify({ query: "{ me { id sessions { id } } }" }),
      { authorization: `Bearer ${user.accessToken}` },
    );
    const body = (await response.json()) as { errors?: { extensions?: { code?: string } }[] };
    expect(body.errors?.[0]?.extensions?.code).toBe("FORBIDDEN");
  });

  describe("disableUser / enableUser", () => {
    it("a disabled user cannot sign in (told only after a correct password) or refresh; enabling restores signin", async () => {
      const user = await createSignedInUser(ctx.server);
      const disabled = expectData(
        await ctx.server.execute(
          DisableUserDocument,
          { id: user.user.id, reason: "  chargeback  " },
          { token: asAdmin.token },
        ),
      ).disableUser;
      expect(disabled).toMatchObject({ disabled: true, disabledReason: "chargeback" });

      const signinWith = (password: string) =>
        ctx.server.execute(SigninDocument, { input: { username: user.user.username, password } });
      expectError(await signinWith("not-the-password"), "UNAUTHENTICATED", "INVALID_CREDENTIALS");
      expectError(await signinWith(user.password), "UNAUTHENTICATED", "ACCOUNT_DISABLED");
      expectError(
        await ctx.server.execute(RefreshTokenDocument, { refreshToken: user.refreshToken }),
        "UNAUTHENTICATED",
        "REFRESH_TOKEN_INVALID",
      );

      expect(
        expectData(
          await ctx.server.execute(
            EnableUserDocument,
            { id: user.user.id },
            { token: asAdmin.token },
          ),
        ).enableUser.disabled,
      ).toBe(false);
      await signin(ctx.server, user.user.username, user.password);
    });

    it("an admin cannot disable themselves (CANNOT_DISABLE_SELF)", async () => {
      expectError(
        await ctx.server.execute(
          DisableUserDocument,
          { id: admin.user.id },
          { token: asAdmin.token },
        ),
        "BAD_USER_INPUT",
        "CANNOT_DISABLE_SELF",
      );
    });

    it("answers NOT_FOUND for an id no user has, BAD_USER_INPUT for one that cannot be an id", async () => {
      expectError(
        await ctx.server.execute(
          DisableUserDocument,
          { id: "0".repeat(24) },
          { token: asAdmin.token },
        ),
        "NOT_FOUND",
      );
      expectError(
        await ctx.server.execute(DisableUserDocument, { id: "12" }, { token: asAdmin.token }),
        "BAD_USER_INPUT",
      );
    });
  });

  it("revokeUserSessions ends every session of the user and says how many", async () => {
    const user = await createSignedInUser(ctx.server);
    const second = await signin(ctx.server, user.user.username, user.password);
    expect(
      expectData(
        await ctx.server.execute(
          RevokeUserSessionsDocument,
          { id: user.user.id },
          { token: asAdmin.token },
        ),
      ).revokeUserSessions,
    ).toBe(2);
    for (const session of [user, second]) {
      expectError(
        await ctx.server.execute(RefreshTokenDocument, { refreshToken: session.refreshToken }),
        "UNAUTHENTICATED",
        "REFRESH_TOKEN_INVALID",
      );
    }
  });

  it("deleteUser removes the account; its refresh tokens stop at once", async () => {
    const user = await createSignedInUser(ctx.server);
    expect(
      expectData(
        await ctx.server.execute(
          DeleteUserDocument,
          { id: user.user.id },
          { token: asAdmin.token },
        ),
      ).deleteUser,
    ).toBe(true);
    expectError(
      await ctx.server.execute(RefreshTokenDocument, { refreshToken: user.refreshToken }),
      "UNAUTHENTICATED",
      "REFRESH_TOKEN_INVALID",
    );
    expect(
      expectData(
        await ctx.server.execute(UserDocument, { id: user.user.id }, { token: asAdmin.token }),
      ).user,
    ).toBeNull();
  });
});

/**
 * Two administrators removing each other at the same moment — demoting, disabling, deleting —
 * must never leave the server without one. Each round starts from exactly two admins.
 */
describe("the last administrator under concurrency", () => {
  const ctx = useTestServer();
  type Admin = BodyAuthPayload & { password: string };

  async function twoAdminsOnly(server: TestServer, survivor: Admin): Promise<[Admin, Admin]> {
    const pair = [] as Admin[];
    for (let i = 0; i < 2; i++) {
      const account = newAccount("admin");
      expectData(
        await server.execute(
          SignupDocument,
          { input: { ...account, roles: ["USER", "ADMIN"] } },
          { token: survivor.accessToken },
        ),
      );
      pair.push({
        ...(await signin(server, account.username, account.password)),
        password: account.password,
      });
    }
    // The admin that set them up leaves, so exactly these two remain.
    expectData(
      await server.execute(
        DeleteAccountDocument,
        { password: survivor.password },
        { token: survivor.accessToken },
      ),
    );
    return [pair[0]!, pair[1]!];
  }

  const removals = {
    demote: (server: TestServer, by: Admin, target: Admin) =>
      server.execute(
        SetUserRolesDocument,
        { userId: target.user.id, roles: ["USER"] },
        { token: by.accessToken },
      ),
    disable: (server: TestServer, by: Admin, target: Admin) =>
      server.execute(DisableUserDocument, { id: target.user.id }, { token: by.accessToken }),
    delete: (server: TestServer, by: Admin, target: Admin) =>
      server.execute(DeleteUserDocument, { id: target.user.id }, { token: by.accessToken }),
  } as const;
  const kinds = Object.keys(removals) as (keyof typeof removals)[];

  it("never leaves zero administrators, over many rounds of two admins removing each other at once", async () => {
    const server = ctx.server;
    let survivor: Admin = { ...(await signinAsAdmin(server)), password: ADMIN.password };
    for (let round = 0; round < 12; round++) {
      const [a, b] = await twoAdminsOnly(server, survivor);
      const [kindA, kindB] = [kinds[round % 3]!, kinds[Math.floor(round / 3) % 3]!];
      const [byA, byB] = await Promise.all([
        removals[kindA](server, a, b),
        removals[kindB](server, b, a),
      ]);
      const outcomes = [byA, byB].map((r) =>
        r.errors ? String(r.errors[0]?.extensions?.reason) : "done",
      );
      // Exactly one removal went through; the other was refused as the last admin.
      expect(outcomes.sort()).toEqual(["LAST_ADMIN", "done"]);

      const admins = await mongoose.connection
        .db!.collection("users")
        .find({ roles: "ADMIN", status: "active", disabledAt: null })
        .toArray();
      // The one whose removal went through is the one left.
      const remaining = byA.errors ? b : a;
      expect(admins.map((u) => String(u._id))).toEqual([remaining.user.id]);
      // The one left can still administer: a fresh signin sees ADMIN.
      survivor = {
        ...(await signin(server, remaining.user.username, remaining.password)),
        password: remaining.password,
      };
      expect(survivor.user.roles).toContain("ADMIN");
    }
  }, 240_000);
});
