import { createHash } from "node:crypto";
import mongoose from "mongoose";
import {
  MySessionsDocument,
  RefreshTokenDocument,
  SigninDocument,
  SignupDocument,
} from "./generated/graphql";
import { ANONYMOUS } from "../src/auth/caller";
import { ManualClock } from "./setup/clock";
import { startTestServer } from "./setup/test-server";
import { expectData, expectError, inBody, newAccount, signin, useTestServer } from "./setup/kit";

type Account = ReturnType<typeof newAccount>;

/**
 * A process killed between two writes never gets to undo the first. These tests stop a write
 * path at one of its writes for good — the write never reaches the database and the code after
 * it never runs, as if the process had died there — and check what the next request finds.
 */
describe("a crash between two writes", () => {
  const clock = new ManualClock();
  // A request left hanging on purpose must not hold the server's shutdown for long.
  const ctx = useTestServer({ SHUTDOWN_TIMEOUT: "1" }, { clock });

  afterEach(() => jest.restoreAllMocks());

  /**
   * From now on, the first call of the driver's `method` on a document (insertOne) or filter
   * (replaceOne) whose _id `matches` never completes.
   */
  function dieAt(
    method: "insertOne" | "replaceOne",
    matches: (id: string) => boolean,
  ): Promise<void> {
    // Both methods name the document by the _id of their first argument.
    const collection = mongoose.mongo.Collection.prototype as unknown as Record<
      typeof method,
      (...args: unknown[]) => unknown
    >;
    const original = collection[method];
    return new Promise((reached) => {
      jest.spyOn(collection, method).mockImplementation(function (
        this: unknown,
        ...args: unknown[]
      ) {
        if (matches(String((args[0] as { _id?: unknown })._id))) {
          jest.restoreAllMocks();
          reached();
          return new Promise(() => undefined);
        }
        return original.apply(this, args);
      });
    });
  }
  const dieAtInsert = (pattern: RegExp) => dieAt("insertOne", (id) => pattern.test(id));
  const dieAtReplace = (id: string) => dieAt("replaceOne", (found) => found === id);

  /**
   * Runs a signup on an instance of its own that dies at the write: what it wrote stays, what
   * it queued in memory dies with it, and the client tries again on the surviving instance.
   */
  async function signupDyingAt(account: Account, pattern: RegExp): Promise<void> {
    const doomed = await startTestServer({}, { clock });
    const died = dieAtInsert(pattern);
    void doomed.app.services.users.signup(account, ANONYMOUS).catch(() => undefined);
    await died;
    await doomed.close();
  }

  const signupOver = (account: Account) => ctx.server.execute(SignupDocument, { input: account });
  const signinWith = (account: Account) =>
    ctx.server.execute(SigninDocument, {
      input: { username: account.username, password: account.password },
    });

  describe.each([
    ["before the account is inserted", () => /^[0-9a-f]{24}$/],
    ["after the account, before its username", (a: Account) => usernameVersion(a)],
    ["after the username, before its email", (a: Account) => emailVersion(a)],
    ["after both names, before it is made active", () => userVersion()],
  ])("in a signup, %s", (_where, at) => {
    it("leaves no account that signs in, and the same signup sent again succeeds", async () => {
      const account = newAccount("crash");
      await signupDyingAt(account, at(account));
      expectError(await signinWith(account), "UNAUTHENTICATED", "INVALID_CREDENTIALS");

      expect(expectData(await signupOver(account)).signup.username).toBe(account.username);
      expect((await signin(ctx.server, account.username, account.password)).user.username).toBe(
        account.username,
      );
    });

    it("frees both names for someone else once the signup is older than a signup can take", async () => {
      const account = newAccount("crash");
      await signupDyingAt(account, at(account));
      const sameName = { ...newAccount("other"), username: account.username };
      const sameEmail = { ...newAccount("other"), email: account.email };

      clock.advance(6 * 60);
      expect(expectData(await signupOver(sameName)).signup.username).toBe(account.username);
      expect(expectData(await signupOver(sameEmail)).signup.email).toBe(account.email);
      await signin(ctx.server, sameName.username, sameName.password);
      await signin(ctx.server, sameEmail.username, sameEmail.password);
    });
  });

  it("in a change of a shared record, after its version is inserted and before its head is: the next change builds on that version", async () => {
    const account = newAccount("crash");
    expectData(await signupOver(account));
    const first = await signin(ctx.server, account.username, account.password);

    // A signin lists its session in the account's list of sessions (a version, then the head)
    // before it creates the session. This one dies at the head, on an instance of its own.
    const doomed = await startTestServer({ SHUTDOWN_TIMEOUT: "1" }, { clock });
    const died = dieAtReplace(first.user.id);
    void doomed
      .execute(SigninDocument, {
        input: { username: account.username, password: account.password },
      })
      .catch(() => undefined);
    await died;
    await doomed.close();

    // The list's head now names the version before the lost signin's. The next signin's
    // change must not be lost to it, nor lose the first session.
    const second = await signin(ctx.server, account.username, account.password);
    const sessions = expectData(
      await ctx.server.execute(MySessionsDocument, {}, { token: second.accessToken }),
    ).mySessions;
    expect(sessions.map((s) => s.id).sort()).toEqual([first.sessionId, second.sessionId].sort());
    const third = await signin(ctx.server, account.username, account.password);
    expect(
      expectData(await ctx.server.execute(MySessionsDocument, {}, { token: third.accessToken }))
        .mySessions,
    ).toHaveLength(3);
  });

  /** A refresh sent on its way to a write that never completes; its client hears nothing. */
  async function refreshDyingAt(refreshToken: string, died: Promise<void>): Promise<void> {
    // Its connection is cut when the server shuts down.
    void ctx.server.execute(RefreshTokenDocument, { refreshToken }).catch(() => undefined);
    await died;
  }

  async function signedInAccount() {
    const account = newAccount("crash");
    expectData(await signupOver(account));
    return signin(ctx.server, account.username, account.password);
  }

  /** The client, which never got an answer, sends the same token again: a pair that works. */
  async function retryRotatesIn(session: { refreshToken: string; sessionId: string }) {
    const retried = inBody(
      expectData(
        await ctx.server.execute(RefreshTokenDocument, { refreshToken: session.refreshToken }),
      ).refreshToken,
    );
    expect(retried.sessionId).toBe(session.sessionId);
    expectData(
      await ctx.server.execute(RefreshTokenDocument, { refreshToken: retried.refreshToken }),
    );
  }

  it("in a refresh, before the rotation is recorded: the token was not spent and rotates as usual", async () => {
    const first = await signedInAccount();
    // A rotation record is keyed by the spent node: 16 random bytes in base64url.
    await refreshDyingAt(first.refreshToken, dieAtInsert(/^[A-Za-z0-9_-]{22}$/));
    // Past the reuse grace (10 s by default): a spent token would now end the session.
    clock.advance(11);
    await retryRotatesIn(first);
  });

  it("in a refresh, after the rotation (and its new token) is recorded, before the answer: the old token still works within the grace", async () => {
    const first = await signedInAccount();
    // The session's last use is the write after the rotation.
    await refreshDyingAt(first.refreshToken, dieAtReplace(first.sessionId));
    // Within the grace: a sibling of the token the client never got.
    await retryRotatesIn(first);
  });
});

function usernameVersion(account: Account): RegExp {
  return new RegExp(`^usernames:${account.username.toLowerCase()}#`);
}

/** Email records are keyed by the address's SHA-256. */
function emailVersion(account: Account): RegExp {
  const key = createHash("sha256").update(account.email.toLowerCase(), "utf8").digest("hex");
  return new RegExp(`^emails:${key}#`);
}

/** The account's first change after its insert: being made active. */
function userVersion(): RegExp {
  return /^users:[0-9a-f]{24}#1$/;
}
