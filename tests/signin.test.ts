import bcrypt from "bcryptjs";
import mongoose from "mongoose";
import type { GraphQLFormattedError } from "graphql";
import { SigninDocument, SignupDocument, UserContentDocument } from "./generated/graphql";
import {
  ADMIN,
  expectData,
  expectError,
  newAccount,
  onlyError,
  signin,
  useTestServer,
} from "./setup/kit";
import type { TestServer } from "./setup/test-server";

/** The error as a client compares it: everything but where in the query it happened. */
function comparable(error: GraphQLFormattedError): Record<string, unknown> {
  const rest: Record<string, unknown> = { ...error };
  delete rest.locations;
  delete rest.path;
  return rest;
}

/**
 * These tests fail signins on purpose, many times for one account and one address; they are
 * about credentials, not brute-force throttling, so the lockout limits are set out of reach.
 */
const NO_LOCKOUT = { SIGNIN_MAX_FAILURES: "1000", SIGNIN_MAX_FAILURES_PER_IP: "1000" };

describe("signin", () => {
  const ctx = useTestServer(NO_LOCKOUT);

  const attempt = (server: TestServer, username: string, password: string) =>
    server.execute(SigninDocument, { input: { username, password } });

  async function signedUp(server: TestServer = ctx.server, account = newAccount()) {
    expectData(await server.execute(SignupDocument, { input: account }));
    return account;
  }

  it("answers an unknown username and a wrong password with exactly the same error", async () => {
    const account = await signedUp();
    const unknown = await attempt(ctx.server, "nobody_by_this_name", account.password);
    const wrong = await attempt(ctx.server, account.username, `${account.password}-wrong`);

    const unknownError = expectError(unknown, "UNAUTHENTICATED", "INVALID_CREDENTIALS");
    const wrongError = expectError(wrong, "UNAUTHENTICATED", "INVALID_CREDENTIALS");
    expect(comparable(unknownError)).toEqual(comparable(wrongError));
    expect(unknown.status).toBe(wrong.status);
    expect(unknown.data).toEqual(wrong.data);
  });

  it("spends the same bcrypt work on an unknown username as on a wrong password", async () => {
    const account = await signedUp();
    const compare = jest.spyOn(ctx.server.app.services.passwords, "compare");
    try {
      const hashesCompared = async (username: string) => {
        compare.mockClear();
        const response = await attempt(ctx.server, username, `${account.password}-wrong`);
        expectError(response, "UNAUTHENTICATED", "INVALID_CREDENTIALS");
        return compare.mock.calls.map(([, hash]) => hash);
      };
      const unknown = await hashesCompared("nobody_by_this_name");
      const wrong = await hashesCompared(account.username);

      // One comparison each, against a hash of the same algorithm and cost: "$2b$NN$" sets
      // the work, the rest is salt and digest. So the time cannot tell the two apart; how
      // close the times come is a benchmark target (`npm run bench`).
      expect(unknown).toHaveLength(1);
      expect(wrong).toHaveLength(1);
      const cost = (hash: string) => hash.slice(0, "$2b$NN$".length);
      const configured = String(ctx.server.config.bcryptRounds).padStart(2, "0");
      expect(cost(wrong[0]!)).toBe(`$2b$${configured}$`);
      expect(cost(unknown[0]!)).toBe(cost(wrong[0]!));
      expect(unknown[0]).not.toBe(wrong[0]);
    } finally {
      compare.mockRestore();
    }
  });

  it("signs in by username in another letter case", async () => {
    const account = await signedUp(ctx.server, {
      ...newAccount(),
      username: newAccount("MiXed").username,
    });
    const upper = await signin(ctx.server, account.username.toUpperCase(), account.password);
    const lower = await signin(ctx.server, account.username.toLowerCase(), account.password);
    expect(upper.user.username).toBe(account.username);
    expect(lower.user.id).toBe(upper.user.id);
  });

  it("signs in by email", async () => {
    const account = await signedUp();
    const byEmail = await signin(ctx.server, account.email, account.password);
    expect(byEmail.user.username).toBe(account.username);
    expect(byEmail.user.email).toBe(account.email);
  });

  it("refuses an empty username or password with INVALID_CREDENTIALS", async () => {
    const account = await signedUp();
    for (const [username, password] of [
      ["", account.password],
      [account.username, ""],
      ["", ""],
    ] as const) {
      expectError(
        await attempt(ctx.server, username, password),
        "UNAUTHENTICATED",
        "INVALID_CREDENTIALS",
      );
    }
  });

  it("treats passwords with control characters, or shorter than signup allows, as wrong", async () => {
    // An account whose password is eight NULs (possible before signup refused them): bcryptjs
    // hashes it exactly like "", so "" would open it.
    const account = await signedUp();
    const { _id } = (await mongoose.connection
      .db!.collection("users")
      .findOne({ usernameKey: account.username.toLowerCase() }))!;
    await mongoose.connection
      .db!.collection("users")
      .updateOne({ _id }, { $set: { passwordHash: bcrypt.hashSync("\u0000".repeat(8), 4) } });
    expect(bcrypt.compareSync("", bcrypt.hashSync("\u0000".repeat(8), 4))).toBe(true);

    for (const password of ["", "\u0000".repeat(8), "\u0000"]) {
      expectError(
        await attempt(ctx.server, account.username, password),
        "UNAUTHENTICATED",
        "INVALID_CREDENTIALS",
      );
    }
    const other = await signedUp();
    expectError(
      await attempt(ctx.server, other.username, `${other.password}\u0000`),
      "UNAUTHENTICATED",
      "INVALID_CREDENTIALS",
    );
  });

  it("refuses a password over 72 bytes even when its first 72 bytes are right", async () => {
    // bcrypt only reads 72 bytes, so accepting a longer password would accept any tail.
    const password = "p".repeat(60) + "0123456789ab";
    expect(Buffer.byteLength(password)).toBe(72);
    const account = await signedUp(ctx.server, { ...newAccount(), password });
    expect((await signin(ctx.server, account.username, password)).user.username).toBe(
      account.username,
    );

    expectError(
      await attempt(ctx.server, account.username, `${password}x`),
      "UNAUTHENTICATED",
      "INVALID_CREDENTIALS",
    );
    expectError(
      await attempt(ctx.server, account.username, "é".repeat(40)),
      "UNAUTHENTICATED",
      "INVALID_CREDENTIALS",
    );
  });

  it("returns the user with their roles and a working token pair", async () => {
    const account = await signedUp();
    const before = Date.now();
    const response = await attempt(ctx.server, account.username, account.password);
    expect(response.errors).toBeUndefined();
    const result = expectData(response).signin;

    expect(result.user).toEqual({
      id: expect.stringMatching(/^[0-9a-f]{24}$/),
      username: account.username,
      email: account.email,
      roles: ["USER"],
      createdAt: expect.any(String),
    });
    expect(result.accessToken.split(".")).toHaveLength(3);
    expect(result.refreshToken?.length).toBeGreaterThan(20);
    expect(result.refreshToken).not.toBe(result.accessToken);
    expect(new Date(result.accessTokenExpiresAt).getTime()).toBeGreaterThan(before);
    expect(new Date(result.refreshTokenExpiresAt).getTime()).toBeGreaterThan(
      new Date(result.accessTokenExpiresAt).getTime(),
    );

    const content = await ctx.server.execute(
      UserContentDocument,
      {},
      { token: result.accessToken },
    );
    expect(expectData(content).userContent).toBe("User Content.");
  });

  it("returns every role of a user who holds several", async () => {
    const admin = await signin(ctx.server, ADMIN.username, ADMIN.password);
    expect([...admin.user.roles].sort()).toEqual(["ADMIN", "MODERATOR", "USER"]);
  });

  it("does not sign in with the right password for a different account", async () => {
    const first = await signedUp();
    const second = await signedUp();
    const error = onlyError(await attempt(ctx.server, first.username, second.password));
    expect(error.extensions?.reason).toBe("INVALID_CREDENTIALS");
  });
});
