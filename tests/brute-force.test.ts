import http from "node:http";
import type { GraphQLFormattedError } from "graphql";
import { SigninDocument, SignupDocument } from "./generated/graphql";
import {
  expectData,
  expectError,
  newAccount,
  onlyError,
  uniqueName,
  useTestServer,
} from "./setup/kit";
import { ManualClock } from "./setup/clock";
import { startTestServer, type GraphQLResponse, type TestServer } from "./setup/test-server";

/**
 * Real limits, small enough to reach in a test: 5 failures per account and address, then a
 * 2-second lockout that doubles per further failure up to 8 seconds (the tests move the
 * server's clock past them). The per-IP limit is out of reach here; the per-IP tests start
 * instances of their own.
 */
const THROTTLE = {
  SIGNIN_MAX_FAILURES: "5",
  SIGNIN_LOCKOUT_BASE: "2",
  SIGNIN_LOCKOUT_MAX: "8",
  SIGNIN_MAX_FAILURES_PER_IP: "1000",
};

const SIGNIN_MUTATION = `mutation Signin($input: SigninInput!) {
  signin(input: $input) { accessToken user { id } }
}`;

type Account = ReturnType<typeof newAccount>;

const signinBody = (account: Pick<Account, "username" | "password">) =>
  JSON.stringify({ query: SIGNIN_MUTATION, variables: { input: account } });

/** Counts bcrypt comparisons (real and dummy) an instance runs from now on. */
/** bcrypt comparisons so far: an unknown account's dummy comparison goes through compare too. */
function watchBcrypt(server: TestServer): () => number {
  const compare = jest.spyOn(server.app.services.passwords, "compare");
  return () => compare.mock.calls.length;
}

const attempt = (
  server: TestServer,
  username: string,
  password: string,
  headers: Record<string, string> = {},
) => server.execute(SigninDocument, { input: { username, password } }, { headers });

async function signedUp(server: TestServer, account: Account = newAccount()): Promise<Account> {
  expectData(await server.execute(SignupDocument, { input: account }));
  return account;
}

function expectInvalidCredentials(response: GraphQLResponse<unknown>): void {
  expectError(response, "UNAUTHENTICATED", "INVALID_CREDENTIALS");
}

/** Asserts TOO_MANY_ATTEMPTS and returns extensions.retryAfter, a whole number of seconds. */
function expectLockedOut(response: GraphQLResponse<unknown>): number {
  const error = expectError(response, "UNAUTHENTICATED", "TOO_MANY_ATTEMPTS");
  expect(response.data).toBeNull();
  const retryAfter = error.extensions?.retryAfter;
  expect(Number.isInteger(retryAfter)).toBe(true);
  expect(retryAfter).toBeGreaterThan(0);
  return retryAfter as number;
}

async function failTimes(server: TestServer, username: string, times: number): Promise<void> {
  for (let i = 0; i < times; i++) {
    expectInvalidCredentials(await attempt(server, username, `wrong-password-${i}`));
  }
}

/** The reason of a signin error: INVALID_CREDENTIALS, TOO_MANY_ATTEMPTS, ... */
function reasonOf(errors: readonly GraphQLFormattedError[] | undefined): unknown {
  expect(errors).toHaveLength(1);
  expect(errors![0]!.extensions?.code).toBe("UNAUTHENTICATED");
  return errors![0]!.extensions?.reason;
}

/**
 * POSTs from a chosen loopback address (the whole 127/8 is local), so a test can be a client
 * whose socket address no other test shares.
 */
function postFrom(
  localAddress: string,
  url: string,
  body: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: { data?: unknown; errors?: GraphQLFormattedError[] } }> {
  return new Promise((resolve, reject) => {
    const request = http.request(
      url,
      {
        method: "POST",
        localAddress,
        agent: false,
        headers: { "content-type": "application/json", ...headers },
      },
      (response) => {
        let text = "";
        response.setEncoding("utf8");
        response.on("data", (chunk: string) => (text += chunk));
        response.on("end", () => {
          try {
            resolve({ status: response.statusCode ?? 0, body: JSON.parse(text) });
          } catch (error) {
            reject(error instanceof Error ? error : new Error(String(error)));
          }
        });
      },
    );
    request.on("error", reject);
    request.end(body);
  });
}

describe("signin brute-force protection", () => {
  const clock = new ManualClock();
  const ctx = useTestServer({ ...THROTTLE, TRUST_PROXY: "false" }, { clock });

  afterEach(() => {
    jest.restoreAllMocks();
  });

  describe("per account", () => {
    it("refuses the 6th attempt after 5 wrong passwords, even with the right password, without running bcrypt", async () => {
      const account = await signedUp(ctx.server);
      const bcryptCalls = watchBcrypt(ctx.server);
      await failTimes(ctx.server, account.username, 5);
      expect(bcryptCalls()).toBe(5);

      const response = await attempt(ctx.server, account.username, account.password);
      const retryAfter = expectLockedOut(response);
      expect(retryAfter).toBeLessThanOrEqual(2);
      expect(onlyError(response).message).toMatch(/too many failed signin attempts/i);
      expect(bcryptCalls()).toBe(5);
    });

    it("doubles the lockout for a failure after the first lockout ran out", async () => {
      const account = await signedUp(ctx.server);
      await failTimes(ctx.server, account.username, 5);
      expect(expectLockedOut(await attempt(ctx.server, account.username, "x"))).toBeLessThanOrEqual(
        2,
      );

      clock.advance(2.1);
      // The lock ran out: one more try is let through (and fails)...
      expectInvalidCredentials(await attempt(ctx.server, account.username, "still-wrong"));
      // ...and locks the account for 2 × 2 seconds.
      const retryAfter = expectLockedOut(
        await attempt(ctx.server, account.username, account.password),
      );
      expect(retryAfter).toBeGreaterThanOrEqual(3);
      expect(retryAfter).toBeLessThanOrEqual(4);
    });

    it("never locks for longer than SIGNIN_LOCKOUT_MAX, however many failures there were", async () => {
      const account = await signedUp(ctx.server);
      // A second instance on the same database with no practical limit records 12 failures
      // for the account in no time (as if the limit had been raised and lowered again).
      // Uncapped, 12 failures would mean 2 × 2^7 = 256 seconds.
      const lenient = await startTestServer(
        { SIGNIN_MAX_FAILURES: "1000", SIGNIN_MAX_FAILURES_PER_IP: "1000" },
        { clock },
      );
      try {
        await failTimes(lenient, account.username, 12);
      } finally {
        await lenient.close();
      }
      const retryAfter = expectLockedOut(
        await attempt(ctx.server, account.username, account.password),
      );
      // Past the 4-second step, and not past the 8-second cap.
      expect(retryAfter).toBeGreaterThan(4);
      expect(retryAfter).toBeLessThanOrEqual(8);
    });

    it("forgets earlier failures after a correct signin (4 wrong, 1 right, 4 wrong, still allowed)", async () => {
      const account = await signedUp(ctx.server);
      await failTimes(ctx.server, account.username, 4);
      expectData(await attempt(ctx.server, account.username, account.password));
      await failTimes(ctx.server, account.username, 4);

      const response = await attempt(ctx.server, account.username, account.password);
      expect(expectData(response).signin.user.username).toBe(account.username);
    });

    it("locks out an unknown username exactly like a real one, so lockouts reveal no accounts", async () => {
      const real = await signedUp(ctx.server);
      const ghost = uniqueName("ghost");
      const bcryptCalls = watchBcrypt(ctx.server);

      // Letter case varies between attempts: both kinds of name are counted case-insensitively.
      const names = (name: string) => [name, name.toUpperCase()];
      const failures: GraphQLFormattedError[][] = [[], []];
      for (let i = 0; i < 5; i++) {
        for (const [k, name] of [real.username, ghost].entries()) {
          const response = await attempt(ctx.server, names(name)[i % 2]!, `wrong-${i}`);
          expectInvalidCredentials(response);
          failures[k]!.push(onlyError(response));
        }
      }
      expect(bcryptCalls()).toBe(10);

      const realLocked = await attempt(ctx.server, real.username, real.password);
      const ghostLocked = await attempt(ctx.server, ghost.toUpperCase(), real.password);
      const realRetry = expectLockedOut(realLocked);
      const ghostRetry = expectLockedOut(ghostLocked);
      expect(bcryptCalls()).toBe(10);

      expect(realRetry).toBeLessThanOrEqual(2);
      expect(ghostRetry).toBeLessThanOrEqual(2);
      const shape = (error: GraphQLFormattedError) => ({
        code: error.extensions?.code,
        reason: error.extensions?.reason,
        message: error.message.replace(/\d+/g, "N"),
        keys: Object.keys(error.extensions ?? {}).sort(),
      });
      expect(shape(onlyError(ghostLocked))).toEqual(shape(onlyError(realLocked)));
      expect(failures[1]!.map(shape)).toEqual(failures[0]!.map(shape));
      expect(ghostLocked.status).toBe(realLocked.status);
    });

    it("counts failures by username and by email against one account", async () => {
      const account = await signedUp(ctx.server);
      await failTimes(ctx.server, account.username, 3);
      await failTimes(ctx.server, account.email.toUpperCase(), 2);

      expectLockedOut(await attempt(ctx.server, account.email, account.password));
      expectLockedOut(await attempt(ctx.server, account.username, account.password));
    });

    it("keeps other accounts unaffected by one account's lockout", async () => {
      const locked = await signedUp(ctx.server);
      const other = await signedUp(ctx.server);
      await failTimes(ctx.server, locked.username, 5);
      expectLockedOut(await attempt(ctx.server, locked.username, locked.password));
      expectData(await attempt(ctx.server, other.username, other.password));
    });
  });

  describe("per account and address: an attacker locks out only their own address", () => {
    const signinFrom = (address: string, username: string, password: string) =>
      postFrom(address, ctx.server.url, signinBody({ username, password }));
    const reasonFrom = (answer: Awaited<ReturnType<typeof signinFrom>>) =>
      answer.body.errors?.[0]?.extensions?.reason ?? "signed in";

    it("5 failures from 127.0.0.2 leave the owner at 127.0.0.3 signing in at once; the attacker stays locked", async () => {
      const victim = await signedUp(ctx.server);
      for (let i = 0; i < 5; i++) {
        expect(reasonFrom(await signinFrom("127.0.0.2", victim.username, `guess-${i}`))).toBe(
          "INVALID_CREDENTIALS",
        );
      }
      const attacker = await signinFrom("127.0.0.2", victim.username, victim.password);
      expect(reasonFrom(attacker)).toBe("TOO_MANY_ATTEMPTS");
      expect(attacker.body.errors?.[0]?.extensions?.retryAfter).toBeGreaterThan(0);

      expect(reasonFrom(await signinFrom("127.0.0.3", victim.username, victim.password))).toBe(
        "signed in",
      );
      // The owner's success clears only the owner's own address.
      expect(reasonFrom(await signinFrom("127.0.0.2", victim.username, "one-more-guess"))).toBe(
        "TOO_MANY_ATTEMPTS",
      );
    });

    it("keeps an attacker locked with one more guess per lockout, without touching the owner", async () => {
      const victim = await signedUp(ctx.server);
      for (let round = 0; round < 4; round++) {
        for (let i = 0; i < (round === 0 ? 5 : 1); i++) {
          await signinFrom("127.0.0.4", victim.username, `guess-${round}-${i}`);
        }
        expect(reasonFrom(await signinFrom("127.0.0.4", victim.username, "again"))).toBe(
          "TOO_MANY_ATTEMPTS",
        );
        expect(reasonFrom(await signinFrom("127.0.0.5", victim.username, victim.password))).toBe(
          "signed in",
        );
        clock.advance(8.1);
      }
    });

    it("never counts a correct password as a failure, also when it arrives with wrong ones", async () => {
      const account = await signedUp(ctx.server);
      const answers = await Promise.all([
        ...Array.from({ length: 4 }, (_, i) =>
          signinFrom("127.0.0.6", account.username, `no-${i}`),
        ),
        signinFrom("127.0.0.6", account.username, account.password),
      ]);
      expect(answers.map(reasonFrom).filter((r) => r === "signed in")).toHaveLength(1);
      // At most the 4 wrong ones count: a fifth failure is still let through to bcrypt.
      expect(reasonFrom(await signinFrom("127.0.0.6", account.username, "fifth-guess"))).toBe(
        "INVALID_CREDENTIALS",
      );
    });

    it("past 100 failures in an hour from many addresses, refuses new addresses but not the owner's known one", async () => {
      const victim = await signedUp(ctx.server);
      expect(reasonFrom(await signinFrom("127.0.0.7", victim.username, victim.password))).toBe(
        "signed in",
      );
      // 4 guesses from each of 28 addresses: under the per-address limit of 5 everywhere.
      const reasons: unknown[] = [];
      for (let host = 1; host <= 28; host++) {
        const address = `127.0.1.${host}`;
        const answers = await Promise.all(
          Array.from({ length: 4 }, (_, i) =>
            signinFrom(address, victim.username, `g${host}-${i}`),
          ),
        );
        reasons.push(...answers.map(reasonFrom));
      }
      expect(reasons.filter((r) => r === "INVALID_CREDENTIALS")).toHaveLength(100);
      expect(reasons.filter((r) => r === "TOO_MANY_ATTEMPTS")).toHaveLength(12);

      const stranger = await signinFrom("127.0.2.1", victim.username, victim.password);
      expect(reasonFrom(stranger)).toBe("TOO_MANY_ATTEMPTS");
      const retryAfter = stranger.body.errors?.[0]?.extensions?.retryAfter as number;
      expect(retryAfter).toBeGreaterThan(0);
      expect(retryAfter).toBeLessThanOrEqual(3600);
      expect(reasonFrom(await signinFrom("127.0.0.7", victim.username, victim.password))).toBe(
        "signed in",
      );

      // An hour later the attack's failures have aged out.
      clock.advance(3601);
      expect(reasonFrom(await signinFrom("127.0.2.1", victim.username, victim.password))).toBe(
        "signed in",
      );
    }, 240_000);
  });

  describe("one HTTP request cannot try more passwords than the limit", () => {
    const aliasedSignins = (account: Account, count: number) =>
      `mutation { ${Array.from(
        { length: count },
        (_, i) =>
          `a${i}: signin(input: { username: "${account.username}", password: "guess-${i}" }) { accessToken }`,
      ).join("\n")} }`;

    it("refuses 100 aliased signin fields in one operation before any bcrypt", async () => {
      const account = await signedUp(ctx.server);
      const bcryptCalls = watchBcrypt(ctx.server);
      const response = await ctx.server.post(
        JSON.stringify({ query: aliasedSignins(account, 100) }),
      );
      const body = (await response.json()) as { data?: unknown; errors: GraphQLFormattedError[] };

      expect(response.status).toBe(400);
      expect(body.data).toBeUndefined();
      expect(body.errors.length).toBeGreaterThan(0);
      for (const error of body.errors) {
        expect(error.extensions?.code).toBe("GRAPHQL_VALIDATION_FAILED");
      }
      expect(body.errors.map((e) => e.message).join(" ")).toMatch(/alias limit/i);
      expect(bcryptCalls()).toBe(0);
    });

    it("runs at most 5 bcrypt comparisons for 100 aliased signins when the GraphQL limits are raised", async () => {
      const open = await startTestServer({
        ...THROTTLE,
        GRAPHQL_MAX_ALIASES: "1000000",
        GRAPHQL_MAX_COST: "1000000",
      });
      try {
        const account = await signedUp(open);
        const bcryptCalls = watchBcrypt(open);
        const response = await open.post(JSON.stringify({ query: aliasedSignins(account, 100) }));
        const body = (await response.json()) as { errors?: GraphQLFormattedError[] };

        expect(bcryptCalls()).toBeLessThanOrEqual(5);
        expect(body.errors?.length).toBeGreaterThan(0);
        for (const error of body.errors ?? []) {
          expect(error.extensions?.code).toBe("UNAUTHENTICATED");
          expect(["INVALID_CREDENTIALS", "TOO_MANY_ATTEMPTS"]).toContain(error.extensions?.reason);
        }
        // Whatever ran, the account is not open to a 6th guess.
        await failTimes(open, account.username, 5 - bcryptCalls());
        expectLockedOut(await attempt(open, account.username, account.password));
      } finally {
        await open.close();
      }
    });

    it("refuses a batched request of 20 signins by default, before any bcrypt", async () => {
      const account = await signedUp(ctx.server);
      const bcryptCalls = watchBcrypt(ctx.server);
      const batch = Array.from({ length: 20 }, (_, i) => ({
        query: SIGNIN_MUTATION,
        variables: { input: { username: account.username, password: `guess-${i}` } },
      }));
      const response = await ctx.server.post(JSON.stringify(batch));
      const body = (await response.json()) as { errors: GraphQLFormattedError[] };

      expect(response.status).toBe(400);
      expect(body.errors).toHaveLength(1);
      expect(body.errors[0]!.extensions?.code).toBe("BAD_REQUEST");
      expect(body.errors[0]!.message).toMatch(/batching disabled/i);
      expect(bcryptCalls()).toBe(0);
    });

    it("runs at most 5 bcrypt comparisons for a batch of 20 wrong passwords when batching is on", async () => {
      const batching = await startTestServer({ ...THROTTLE, ALLOW_BATCHED_REQUESTS: "true" });
      try {
        const account = await signedUp(batching);
        const bcryptCalls = watchBcrypt(batching);
        const batch = Array.from({ length: 20 }, (_, i) => ({
          query: SIGNIN_MUTATION,
          variables: { input: { username: account.username, password: `guess-${i}` } },
        }));
        const response = await batching.post(JSON.stringify(batch));
        const results = (await response.json()) as { errors?: GraphQLFormattedError[] }[];

        expect(results).toHaveLength(20);
        const reasons = results.map((result) => reasonOf(result.errors));
        const tried = reasons.filter((r) => r === "INVALID_CREDENTIALS").length;
        const refused = reasons.filter((r) => r === "TOO_MANY_ATTEMPTS").length;
        expect(tried + refused).toBe(20);
        expect(tried).toBeLessThanOrEqual(5);
        expect(refused).toBeGreaterThanOrEqual(15);
        expect(bcryptCalls()).toBe(tried);
      } finally {
        await batching.close();
      }
    });

    it("runs at most 5 bcrypt comparisons for 20 parallel requests with wrong passwords", async () => {
      const account = await signedUp(ctx.server);
      const bcryptCalls = watchBcrypt(ctx.server);
      const responses = await Promise.all(
        Array.from({ length: 20 }, (_, i) => attempt(ctx.server, account.username, `guess-${i}`)),
      );

      const reasons = responses.map((response) => reasonOf(response.errors));
      const tried = reasons.filter((r) => r === "INVALID_CREDENTIALS").length;
      const refused = reasons.filter((r) => r === "TOO_MANY_ATTEMPTS").length;
      expect(tried + refused).toBe(20);
      expect(tried).toBeLessThanOrEqual(5);
      expect(bcryptCalls()).toBe(tried);
    });
  });

  describe("per client IP", () => {
    /** Lockouts long enough that no test outlives them. */
    const PER_IP = { SIGNIN_MAX_FAILURES_PER_IP: "8", SIGNIN_LOCKOUT_BASE: "60" };

    it("locks out an IP behind a trusted proxy after 8 failures across 8 accounts, and only that IP", async () => {
      const proxied = await startTestServer({ ...PER_IP, TRUST_PROXY: "1" });
      try {
        const from = (ip: string) => ({ "x-forwarded-for": ip });
        for (let i = 0; i < 8; i++) {
          const victim = await signedUp(proxied);
          expectInvalidCredentials(
            await attempt(proxied, victim.username, "wrong", from("203.0.113.7")),
          );
        }

        const fresh = await signedUp(proxied);
        const retryAfter = expectLockedOut(
          await attempt(proxied, fresh.username, fresh.password, from("203.0.113.7")),
        );
        expect(retryAfter).toBeGreaterThan(50);
        // A client that puts another address first is still seen at the hop the proxy added.
        expectLockedOut(
          await attempt(proxied, fresh.username, fresh.password, from("203.0.113.8, 203.0.113.7")),
        );

        const signedIn = await attempt(
          proxied,
          fresh.username,
          fresh.password,
          from("203.0.113.8"),
        );
        expect(expectData(signedIn).signin.user.username).toBe(fresh.username);
      } finally {
        await proxied.close();
      }
    });

    it("counts by the socket address when no proxy is trusted, whatever X-Forwarded-For says", async () => {
      const direct = await startTestServer(PER_IP);
      try {
        // 127.0.0.77 is this test's own client address; no other request comes from it.
        const client = "127.0.0.77";
        for (let i = 0; i < 8; i++) {
          const victim = await signedUp(direct);
          const { body } = await postFrom(
            client,
            direct.url,
            signinBody({ username: victim.username, password: "wrong" }),
            { "x-forwarded-for": `198.51.100.${i + 1}` },
          );
          expect(reasonOf(body.errors)).toBe("INVALID_CREDENTIALS");
        }

        const fresh = await signedUp(direct);
        const credentials = { username: fresh.username, password: fresh.password };
        const locked = await postFrom(client, direct.url, signinBody(credentials), {
          "x-forwarded-for": "198.51.100.200",
        });
        expect(reasonOf(locked.body.errors)).toBe("TOO_MANY_ATTEMPTS");
        expect(locked.body.errors![0]!.extensions?.retryAfter).toBeGreaterThan(50);

        const loggedIps = direct.logs
          .map((line) => JSON.parse(line) as { msg?: string; clientIp?: string })
          .filter((line) => line.msg === "graphql request" && line.clientIp !== "127.0.0.1")
          .map((line) => line.clientIp);
        expect(new Set(loggedIps)).toEqual(new Set([client]));

        // Another socket address is not affected.
        const elsewhere = await postFrom("127.0.0.78", direct.url, signinBody(credentials));
        expect(elsewhere.body.errors).toBeUndefined();
        expect(elsewhere.body.data).toHaveProperty("signin.accessToken");
      } finally {
        await direct.close();
      }
    });
  });

  it("enforces a lockout made on one instance on another instance sharing the database", async () => {
    const second = await startTestServer(THROTTLE, { clock });
    try {
      const account = await signedUp(ctx.server);
      await failTimes(ctx.server, account.username, 5);

      const bcryptCalls = watchBcrypt(second);
      const retryAfter = expectLockedOut(await attempt(second, account.username, account.password));
      expect(retryAfter).toBeLessThanOrEqual(2);
      expect(bcryptCalls()).toBe(0);
    } finally {
      await second.close();
    }
  });
});
