import mongoose from "mongoose";
import { SigninDocument, SignupDocument, type SignupInput } from "./generated/graphql";
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
} from "./setup/kit";
import { startTestServer } from "./setup/test-server";

const BCRYPT_HASH = /\$2[aby]\$/;

describe("signup", () => {
  const ctx = useTestServer();

  const signup = (input: SignupInput, token?: string) =>
    ctx.server.execute(SignupDocument, { input }, { token });

  /** Asserts the signin of an account fails as if it had never been created. */
  async function expectNoAccount(username: string, password: string): Promise<void> {
    const response = await ctx.server.execute(SigninDocument, { input: { username, password } });
    expectError(response, "UNAUTHENTICATED", "INVALID_CREDENTIALS");
  }

  async function expectRefused(input: SignupInput, field: string): Promise<void> {
    const response = await signup(input);
    const error = expectError(response, "BAD_USER_INPUT");
    expect(error.extensions?.field).toBe(field);
    expect(response.data).toBeNull();
  }

  describe("username rules", () => {
    it("refuses a username shorter than 3 characters", async () => {
      await expectRefused({ ...newAccount(), username: "ab" }, "username");
    });

    it("refuses a username longer than 32 characters", async () => {
      await expectRefused({ ...newAccount(), username: "a".repeat(33) }, "username");
    });

    it.each([
      ["a space", "ab cd"],
      ['an "@"', "ab@cd"],
      ['an "é"', "abécd"],
      ['a "/"', "ab/cd"],
    ])("refuses a username with %s in it", async (_label, username) => {
      await expectRefused({ ...newAccount(), username }, "username");
    });

    it("accepts a username of exactly 3 characters", async () => {
      const account = { ...newAccount(), username: "a_3" };
      expect(expectData(await signup(account)).signup.username).toBe("a_3");
    });

    it("accepts a username of exactly 32 characters", async () => {
      const username = `u.-_${"x".repeat(28)}`;
      expect(username).toHaveLength(32);
      const account = { ...newAccount(), username };
      expect(expectData(await signup(account)).signup.username).toBe(username);
    });
  });

  describe("email rules", () => {
    // 64 + 1 + 3 × 63 + 2 + 4 = 260 characters, each part within its own limit.
    const tooLong = `${"a".repeat(64)}@${["b", "c", "d"].map((c) => c.repeat(63)).join(".")}.com`;

    it.each([
      ["without an @", "user.example.com"],
      ["without a domain", "user@"],
      ["with spaces", "us er@exam ple.com"],
      ["over 254 characters", tooLong],
      ["with a quoted local part", '"root"@example.com'],
      ["with a quoted local part holding an @", '"a@b"@example.com'],
    ])("refuses an email %s", async (_label, email) => {
      await expectRefused({ ...newAccount(), email }, "email");
    });

    it("stores the email lowercased", async () => {
      const account = { ...newAccount(), email: "MiXeD@Example.COM" };
      expect(expectData(await signup(account)).signup.email).toBe("mixed@example.com");
      const session = await signin(ctx.server, "mixed@example.com", account.password);
      expect(session.user.email).toBe("mixed@example.com");
    });
  });

  describe("password rules", () => {
    it("refuses a password of 7 characters", async () => {
      await expectRefused({ ...newAccount(), password: "1234567" }, "password");
    });

    it("accepts a password of 8 characters", async () => {
      const account = { ...newAccount(), password: "kq7#Vm2x" };
      expectData(await signup(account));
      await signin(ctx.server, account.username, account.password);
    });

    it.each([
      ["a NUL byte", "correct-\u0000-horse"],
      ["eight NUL bytes (bcryptjs hashes them like an empty password)", "\u0000".repeat(8)],
      ["a tab", "correct\thorse-battery"],
      ["a newline", "correct\nhorse-battery"],
      ["DEL", "correct\u007fhorse-battery"],
    ])("refuses a password with %s", async (_label, password) => {
      await expectRefused({ ...newAccount(), password }, "password");
    });

    it.each([
      ["password123"],
      ["Password123"],
      ["qwertyuiop"],
      ["        "],
      ["aaaaaaaaaaaa"],
      ["iloveyou"],
    ])("refuses the common password %j with PASSWORD_TOO_COMMON", async (password) => {
      const response = await ctx.server.execute(SignupDocument, {
        input: { ...newAccount(), password },
      });
      const error = expectError(response, "BAD_USER_INPUT", "PASSWORD_TOO_COMMON");
      expect(error.extensions?.field).toBe("password");
    });

    it("refuses the username itself as the password", async () => {
      const account = newAccount("selfpw");
      const response = await ctx.server.execute(SignupDocument, {
        input: { ...account, password: account.username },
      });
      expectError(response, "BAD_USER_INPUT", "PASSWORD_TOO_COMMON");
    });

    it("refuses a password over 72 bytes even when it is under 72 characters", async () => {
      const password = "é".repeat(40);
      expect(Buffer.byteLength(password, "utf8")).toBe(80);
      await expectRefused({ ...newAccount(), password }, "password");
    });

    it("accepts a password of exactly 72 bytes", async () => {
      const password = "éà".repeat(18);
      expect(Buffer.byteLength(password, "utf8")).toBe(72);
      const account = { ...newAccount(), password };
      expectData(await signup(account));
      await signin(ctx.server, account.username, password);
    });
  });

  describe("new accounts", () => {
    it("get the roles [USER]", async () => {
      const account = newAccount();
      expect(expectData(await signup(account)).signup.roles).toEqual(["USER"]);
      expect((await signin(ctx.server, account.username, account.password)).user.roles).toEqual([
        "USER",
      ]);
    });

    it("never show the password or a bcrypt hash in the response", async () => {
      const account = newAccount();
      const response = await signup(account);
      expectData(response);
      expect(response.text).not.toContain(account.password);
      expect(response.text).not.toMatch(BCRYPT_HASH);
    });
  });

  describe("uniqueness", () => {
    it("refuses a username taken in another letter case with USERNAME_TAKEN", async () => {
      const first = { ...newAccount(), username: uniqueName("Case") };
      expectData(await signup(first));
      const response = await signup({ ...newAccount(), username: first.username.toUpperCase() });
      const error = expectError(response, "BAD_USER_INPUT", "USERNAME_TAKEN");
      expect(error.extensions?.field).toBe("username");
    });

    it("refuses an email taken in another letter case with EMAIL_TAKEN", async () => {
      const first = newAccount();
      expectData(await signup(first));
      const response = await signup({ ...newAccount(), email: first.email.toUpperCase() });
      const error = expectError(response, "BAD_USER_INPUT", "EMAIL_TAKEN");
      expect(error.extensions?.field).toBe("email");
    });

    it.each([1, 2, 3, 4, 5, 6, 7, 8])(
      "creates exactly one user when the same email signs up concurrently (round %i)",
      async () => {
        const email = `${uniqueName("race")}@example.com`;
        const attempts = Array.from({ length: 4 }, () => ({ ...newAccount(), email }));
        const responses = await Promise.all(attempts.map((account) => signup(account)));
        const winners = responses.filter((r) => !r.errors && r.data?.signup);
        expect(winners).toHaveLength(1);
        for (const loser of responses.filter((r) => r.errors)) {
          expectError(loser, "BAD_USER_INPUT", "EMAIL_TAKEN");
        }
        const winner = attempts[responses.indexOf(winners[0]!)]!;
        expect((await signin(ctx.server, email, winner.password)).user.username).toBe(
          winner.username,
        );
        for (const loser of attempts.filter((a) => a !== winner)) {
          await expectNoAccount(loser.username, loser.password);
        }
      },
    );

    it.each([1, 2, 3, 4, 5, 6])(
      "creates exactly one account when the same signup is sent three times at once (round %i)",
      async () => {
        const account = newAccount("twice");
        const responses = await Promise.all([signup(account), signup(account), signup(account)]);
        expect(responses.filter((r) => !r.errors && r.data?.signup)).toHaveLength(1);
        expect((await signin(ctx.server, account.username, account.password)).user.email).toBe(
          account.email,
        );
        const stored = await mongoose.connection
          .db!.collection("users")
          .find({ usernameKey: account.username.toLowerCase(), status: "active" })
          .toArray();
        expect(stored).toHaveLength(1);
      },
    );

    it.each([1, 2, 3, 4, 5, 6, 7, 8])(
      "creates exactly one user when the same username signs up concurrently (round %i)",
      async () => {
        const username = uniqueName("race");
        const attempts = Array.from({ length: 5 }, () => ({ ...newAccount(), username }));
        const responses = await Promise.all(attempts.map((account) => signup(account)));

        const winners = responses.filter((r) => !r.errors && r.data?.signup);
        expect(winners).toHaveLength(1);
        for (const loser of responses.filter((r) => r.errors)) {
          const error = expectError(loser, "BAD_USER_INPUT", "USERNAME_TAKEN");
          expect(error.extensions?.field).toBe("username");
        }

        const winner = attempts[responses.indexOf(winners[0]!)]!;
        expect((await signin(ctx.server, username, winner.password)).user.email).toBe(winner.email);
        for (const loser of attempts.filter((a) => a !== winner)) {
          await expectNoAccount(loser.email, loser.password);
        }
      },
    );
  });

  describe("choosing roles", () => {
    it("is FORBIDDEN to an anonymous caller and creates no user", async () => {
      const account = newAccount();
      const response = await signup({ ...account, roles: ["ADMIN"] });
      expectError(response, "FORBIDDEN");
      expect(response.data).toBeNull();
      await expectNoAccount(account.username, account.password);
    });

    it("is FORBIDDEN to a signed-in USER and creates no user", async () => {
      const user = await createSignedInUser(ctx.server);
      const account = newAccount();
      const response = await signup({ ...account, roles: ["MODERATOR"] }, user.accessToken);
      expectError(response, "FORBIDDEN");
      await expectNoAccount(account.username, account.password);
    });

    it("lets an ADMIN sign up a user with the roles [MODERATOR]", async () => {
      const admin = await signinAsAdmin(ctx.server);
      const account = newAccount();
      const response = await signup({ ...account, roles: ["MODERATOR"] }, admin.accessToken);
      expect(expectData(response).signup.roles).toEqual(["MODERATOR"]);
      const session = await signin(ctx.server, account.username, account.password);
      expect(session.user.roles).toEqual(["MODERATOR"]);
    });
  });

  describe("the initial admin", () => {
    it("exists from ADMIN_USERNAME / ADMIN_EMAIL / ADMIN_PASSWORD with the role ADMIN", async () => {
      const admin = await signinAsAdmin(ctx.server);
      expect(admin.user.username).toBe(ADMIN.username);
      expect(admin.user.email).toBe(ADMIN.email);
      expect(admin.user.roles).toContain("ADMIN");
    });

    it("is left unchanged by a second instance started with another ADMIN_PASSWORD", async () => {
      const before = await signinAsAdmin(ctx.server);
      const otherPassword = "a different admin password";
      const second = await startTestServer({
        ADMIN_USERNAME: ADMIN.username,
        ADMIN_EMAIL: ADMIN.email,
        ADMIN_PASSWORD: otherPassword,
      });
      try {
        const after = await signin(second, ADMIN.username, ADMIN.password);
        expect(after.user).toEqual(before.user);
        const refused = await second.execute(SigninDocument, {
          input: { username: ADMIN.username, password: otherPassword },
        });
        expectError(refused, "UNAUTHENTICATED", "INVALID_CREDENTIALS");
      } finally {
        await second.close();
      }
    });
  });
});
