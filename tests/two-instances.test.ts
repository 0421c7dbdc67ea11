import { withDatabaseName } from "../src/db/connection";
import {
  RefreshTokenDocument,
  SigninDocument,
  SignupDocument,
  UserContentDocument,
} from "./generated/graphql";
import { expectData, expectError, inBody, newAccount } from "./setup/kit";
import { killServerProcesses, spawnServer, type ServerProcess } from "./setup/server-process";

describe("two server processes on one database", () => {
  let a: ServerProcess;
  let b: ServerProcess;

  beforeAll(async () => {
    const base = process.env.TEST_MONGODB_URI;
    if (!base) throw new Error("TEST_MONGODB_URI is not set: run through jest's global setup");
    const env = {
      MONGODB_URI: withDatabaseName(base, `instances_${process.pid}_${Date.now()}`),
      SIGNIN_MAX_FAILURES: "3",
      SIGNIN_LOCKOUT_BASE: "60",
      // Processes of their own run on the real clock: the strict rule makes a replay reuse
      // at once instead of after the grace.
      REFRESH_REUSE_GRACE: "0",
    };
    [a, b] = await Promise.all([spawnServer({ env }), spawnServer({ env })]);
    await Promise.all([
      a.waitForMessage(/^database connected/),
      b.waitForMessage(/^database connected/),
    ]);
  }, 60_000);

  afterAll(killServerProcesses);

  async function signedUp(server: ServerProcess) {
    const account = newAccount("multi");
    expectData(await server.execute(SignupDocument, { input: account }));
    return account;
  }

  it("a refresh token issued by one is rotated by the other, and reuse is caught by either", async () => {
    const account = await signedUp(a);
    const issued = inBody(
      expectData(
        await a.execute(SigninDocument, {
          input: { username: account.username, password: account.password },
        }),
      ).signin,
    );
    const rotated = inBody(
      expectData(await b.execute(RefreshTokenDocument, { refreshToken: issued.refreshToken }))
        .refreshToken,
    );
    expect(rotated.refreshToken).not.toBe(issued.refreshToken);

    expectError(
      await a.execute(RefreshTokenDocument, { refreshToken: issued.refreshToken }),
      "UNAUTHENTICATED",
      "REFRESH_TOKEN_REUSED",
    );
    expectError(
      await b.execute(RefreshTokenDocument, { refreshToken: rotated.refreshToken }),
      "UNAUTHENTICATED",
      "REFRESH_TOKEN_INVALID",
    );
  });

  it("an access token from one authorizes on the other", async () => {
    const account = await signedUp(b);
    const { accessToken } = expectData(
      await b.execute(SigninDocument, {
        input: { username: account.username, password: account.password },
      }),
    ).signin;
    expect(
      expectData(await a.execute(UserContentDocument, {}, { token: accessToken })).userContent,
    ).toBe("User Content.");
  });

  it("failures split across both lock the account on both", async () => {
    const account = await signedUp(a);
    const wrong = { username: account.username, password: "not-the-password" };
    for (const server of [a, b, a]) {
      expectError(
        await server.execute(SigninDocument, { input: wrong }),
        "UNAUTHENTICATED",
        "INVALID_CREDENTIALS",
      );
    }
    const right = { username: account.username, password: account.password };
    for (const server of [a, b]) {
      const error = expectError(
        await server.execute(SigninDocument, { input: right }),
        "UNAUTHENTICATED",
        "TOO_MANY_ATTEMPTS",
      );
      expect(error.extensions?.retryAfter).toBeGreaterThan(0);
    }
  });
});
