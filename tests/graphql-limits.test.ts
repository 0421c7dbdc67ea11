import { performance } from "node:perf_hooks";
import { getIntrospectionQuery, type GraphQLFormattedError } from "graphql";
import { MeDocument, PublicContentDocument } from "./generated/graphql";
import {
  createSignedInUser,
  expectData,
  expectError,
  newAccount,
  useTestServer,
} from "./setup/kit";
import { startTestServer, type TestServer } from "./setup/test-server";

interface RawResponse {
  status: number;
  contentType: string;
  requestId: string | null;
  text: string;
  data?: Record<string, unknown> | null;
  errors?: GraphQLFormattedError[];
}

/** Sends any body to /graphql and reads the answer, whatever shape it has. */
async function send(
  server: TestServer,
  body: string,
  headers: Record<string, string> = {},
): Promise<RawResponse> {
  return read(await server.post(body, headers));
}

async function read(response: Response): Promise<RawResponse> {
  const text = await response.text();
  const contentType = response.headers.get("content-type") ?? "";
  const parsed = contentType.includes("json")
    ? (JSON.parse(text) as Pick<RawResponse, "data" | "errors">)
    : {};
  return {
    status: response.status,
    contentType,
    requestId: response.headers.get("x-request-id"),
    text,
    ...parsed,
  };
}

const query = (server: TestServer, document: string, variables?: Record<string, unknown>) =>
  send(server, JSON.stringify({ query: document, variables }));

/** The only error of a raw response, with its code checked. */
function expectOnlyError(response: RawResponse, code: string): GraphQLFormattedError {
  expect(response.errors).toHaveLength(1);
  const error = response.errors![0]!;
  expect(error.extensions?.code).toBe(code);
  return error;
}

function aliases(count: number, field = "publicContent"): string {
  return Array.from({ length: count }, (_, i) => `a${i}: ${field}`).join(" ");
}

/** `{ __type(name: "User") { ofType { ofType { ... { name } } } } }`, `levels` ofTypes deep. */
function nestedTypeQuery(levels: number): string {
  return `{ __type(name: "User") { ${"ofType { ".repeat(levels)}name${" }".repeat(levels)} } }`;
}

/** Answers a plain query, so a test can show the server survived what came before. */
async function expectStillServing(server: TestServer): Promise<void> {
  const response = await server.execute(PublicContentDocument);
  expect(expectData(response).publicContent).toBe("Public Content.");
}

describe("GraphQL operation limits", () => {
  const ctx = useTestServer();

  afterEach(() => {
    jest.restoreAllMocks();
  });

  describe("depth", () => {
    it("refuses introspection nested past the depth limit, naming the limit", async () => {
      const response = await query(ctx.server, nestedTypeQuery(20));
      expect(response.status).toBe(400);
      const error = expectOnlyError(response, "GRAPHQL_VALIDATION_FAILED");
      expect(error.message).toMatch(/depth limit/i);
      expect(error.message).toContain("15");
      expect(response.data).toBeUndefined();
    });

    it("allows nesting exactly at the depth limit of 15", async () => {
      // __type + 13 ofType + name = 15 levels.
      const response = await query(ctx.server, nestedTypeQuery(13));
      expect(response.errors).toBeUndefined();
      expect(response.data).toEqual({ __type: { ofType: null } });

      const tooDeep = await query(ctx.server, nestedTypeQuery(14));
      expect(expectOnlyError(tooDeep, "GRAPHQL_VALIDATION_FAILED").message).toMatch(/depth limit/i);
    });

    it("refuses deeply nested __schema selections", async () => {
      const levels = 8;
      const document = `{ __schema { types { ${"fields { type { ".repeat(levels)}name${" } }".repeat(levels)} } } }`;
      const response = await query(ctx.server, document);
      expect(response.status).toBe(400);
      // graphql-js's own introspection rule may refuse it as well; every error is a refusal.
      const errors = response.errors ?? [];
      expect(errors.map((e) => e.extensions?.code)).toEqual(
        errors.map(() => "GRAPHQL_VALIDATION_FAILED"),
      );
      expect(errors.some((e) => /depth limit/i.test(e.message))).toBe(true);
      expect(response.data).toBeUndefined();
    });

    it("counts depth hidden inside fragments", async () => {
      // Each fragment adds five levels; spread three times they reach 1 + 15 + 1 levels.
      const document = `
        query Hidden { __type(name: "User") { ...A } }
        fragment A on __Type { ofType { ofType { ofType { ofType { ofType { ...B } } } } } }
        fragment B on __Type { ofType { ofType { ofType { ofType { ofType { ...C } } } } } }
        fragment C on __Type { ofType { ofType { ofType { ofType { ofType { name } } } } } }
      `;
      const response = await query(ctx.server, document);
      const error = expectOnlyError(response, "GRAPHQL_VALIDATION_FAILED");
      expect(error.message).toMatch(/depth limit/i);
      expect(error.message).toContain('"Hidden"');
    });

    it("lets the standard introspection query through", async () => {
      const response = await query(ctx.server, getIntrospectionQuery());
      expect(response.status).toBe(200);
      expect(response.errors).toBeUndefined();
      const schema = (response.data as { __schema: { types: { name: string }[] } }).__schema;
      expect(schema.types.map((t) => t.name)).toEqual(
        expect.arrayContaining(["Query", "Mutation", "User", "AuthPayload", "Role"]),
      );
    });
  });

  describe("aliases", () => {
    it("allows 15 aliases", async () => {
      const response = await query(ctx.server, `{ ${aliases(15)} }`);
      expect(response.errors).toBeUndefined();
      expect(Object.keys(response.data ?? {})).toHaveLength(15);
      expect(response.data?.a14).toBe("Public Content.");
    });

    it("refuses 16 aliases, naming the alias limit", async () => {
      const response = await query(ctx.server, `{ ${aliases(16)} }`);
      expect(response.status).toBe(400);
      const error = expectOnlyError(response, "GRAPHQL_VALIDATION_FAILED");
      expect(error.message).toMatch(/alias limit/i);
      expect(error.message).toContain("16");
      expect(response.data).toBeUndefined();
    });

    it("answers thousands of aliases in a 90 kB body with a parse error at the token cap", async () => {
      const document = `{ ${aliases(4_300)} }`;
      const body = JSON.stringify({ query: document });
      expect(body.length).toBeGreaterThan(85_000);
      expect(body.length).toBeLessThan(100_000);

      const started = performance.now();
      const response = await send(ctx.server, body);
      const elapsed = performance.now() - started;

      expect(response.status).toBe(400);
      const error = expectOnlyError(response, "GRAPHQL_PARSE_FAILED");
      expect(error.message).toMatch(/tokens/i);
      // A sanity bound only: the token cap makes this milliseconds, which `npm run bench`
      // measures (a shared machine makes a millisecond assertion here fail at random).
      expect(elapsed).toBeLessThan(10_000);
      await expectStillServing(ctx.server);
    });
  });

  describe("cost", () => {
    let cheap: TestServer;
    beforeAll(async () => {
      cheap = await startTestServer({ GRAPHQL_MAX_COST: "10" });
    });
    afterAll(async () => {
      await cheap.close();
    });

    it("allows an operation that costs exactly the limit", async () => {
      const response = await query(cheap, `{ ${aliases(10)} }`);
      expect(response.errors).toBeUndefined();
      expect(Object.keys(response.data ?? {})).toHaveLength(10);
    });

    it("refuses an operation of 11 fields when the cost limit is 10, naming the cost limit", async () => {
      const response = await query(cheap, `{ ${aliases(11)} }`);
      expect(response.status).toBe(400);
      const error = expectOnlyError(response, "GRAPHQL_VALIDATION_FAILED");
      expect(error.message).toMatch(/cost limit/i);
      expect(error.message).toContain("11");
    });

    it("counts one signin as more than ten plain fields", async () => {
      const account = newAccount();
      const response = await query(
        cheap,
        "mutation ($input: SigninInput!) { signin(input: $input) { accessToken } }",
        { input: { username: account.username, password: account.password } },
      );
      expect(expectOnlyError(response, "GRAPHQL_VALIDATION_FAILED").message).toMatch(/cost limit/i);
    });
  });

  describe("request bodies", () => {
    it("answers a body over 100 kB with 413 and a JSON BAD_REQUEST", async () => {
      const body = JSON.stringify({
        query: "query ($pad: String) { publicContent }",
        variables: { pad: "x".repeat(101 * 1024) },
      });
      const response = await send(ctx.server, body);
      expect(response.status).toBe(413);
      expect(response.contentType).toMatch(/^application\/json/);
      expectOnlyError(response, "BAD_REQUEST");
      expect(response.errors![0]!.message).toMatch(/larger than 102400 bytes/);
      await expectStillServing(ctx.server);
    });

    it("answers malformed JSON with 400 and a JSON BAD_REQUEST, not an HTML page", async () => {
      const response = await send(ctx.server, '{"query": "{ publicContent }"');
      expect(response.status).toBe(400);
      expect(response.contentType).toMatch(/^application\/json/);
      expect(response.text).not.toMatch(/<html|<pre|at .*\.js/i);
      expect(expectOnlyError(response, "BAD_REQUEST").message).toMatch(/not valid JSON/);
      await expectStillServing(ctx.server);
    });

    it("refuses a batched request (a JSON array) by default", async () => {
      const response = await send(
        ctx.server,
        JSON.stringify([{ query: "{ publicContent }" }, { query: "{ publicContent }" }]),
      );
      expect(response.status).toBe(400);
      expect(expectOnlyError(response, "BAD_REQUEST").message).toMatch(/batching disabled/i);
    });
  });

  describe("string arguments", () => {
    const huge = "p".repeat(50_000);

    function watchBcrypt(server: TestServer) {
      const { passwords } = server.app.services;
      const spies = [
        jest.spyOn(passwords, "compare"),
        jest.spyOn(passwords, "compareWithDummy"),
        jest.spyOn(passwords, "hash"),
      ];
      return () => spies.reduce((sum, spy) => sum + spy.mock.calls.length, 0);
    }

    it("refuses a 50 kB password in variables before any bcrypt work", async () => {
      const { username } = newAccount();
      const bcryptCalls = watchBcrypt(ctx.server);
      const response = await query(
        ctx.server,
        "mutation Signin($input: SigninInput!) { signin(input: $input) { accessToken } }",
        { input: { username, password: huge } },
      );
      expect(response.status).toBe(400);
      expect(expectOnlyError(response, "BAD_USER_INPUT").message).toMatch(/1024/);
      expect(bcryptCalls()).toBe(0);
    });

    it("refuses a 50 kB password written inline in the document before any bcrypt work", async () => {
      const { username } = newAccount();
      const bcryptCalls = watchBcrypt(ctx.server);
      const response = await query(
        ctx.server,
        `mutation { signin(input: { username: "${username}", password: "${huge}" }) { accessToken } }`,
      );
      expect(response.status).toBe(400);
      expectOnlyError(response, "BAD_USER_INPUT");
      expect(bcryptCalls()).toBe(0);
    });

    it("refuses a 50 kB username at signup before hashing the password", async () => {
      const account = newAccount();
      const bcryptCalls = watchBcrypt(ctx.server);
      const response = await query(
        ctx.server,
        "mutation ($input: SignupInput!) { signup(input: $input) { id } }",
        { input: { ...account, username: "u".repeat(50_000) } },
      );
      expectOnlyError(response, "BAD_USER_INPUT");
      expect(bcryptCalls()).toBe(0);
    });

    it("allows strings up to 1024 characters and refuses 1025", async () => {
      const { username } = newAccount();
      const signinDoc = "mutation ($input: SigninInput!) { signin(input: $input) { accessToken } }";
      const atLimit = await query(ctx.server, signinDoc, {
        input: { username, password: "p".repeat(1024) },
      });
      // Past the string limit, the password is simply wrong.
      expect(expectOnlyError(atLimit, "UNAUTHENTICATED").extensions?.reason).toBe(
        "INVALID_CREDENTIALS",
      );
      const overLimit = await query(ctx.server, signinDoc, {
        input: { username, password: "p".repeat(1025) },
      });
      expectOnlyError(overLimit, "BAD_USER_INPUT");
    });
  });

  describe("CSRF prevention", () => {
    it("refuses a POST sent as text/plain, which a cross-site form could send", async () => {
      const response = await send(ctx.server, JSON.stringify({ query: "{ publicContent }" }), {
        "content-type": "text/plain",
      });
      expect(response.status).toBe(400);
      expect(expectOnlyError(response, "BAD_REQUEST").message).toMatch(/CSRF/);
      expect(response.data).toBeUndefined();
    });

    it("refuses a GET query without a preflight header", async () => {
      const url = `${ctx.server.url}?query=${encodeURIComponent("{ publicContent }")}`;
      const response = await read(await fetch(url));
      expect(response.status).toBe(400);
      expect(expectOnlyError(response, "BAD_REQUEST").message).toMatch(/CSRF/);
      expect(response.data).toBeUndefined();
    });

    it("answers the same GET query when it carries apollo-require-preflight", async () => {
      const url = `${ctx.server.url}?query=${encodeURIComponent("{ publicContent }")}`;
      const response = await read(
        await fetch(url, { headers: { "apollo-require-preflight": "true" } }),
      );
      expect(response.status).toBe(200);
      expect(response.data).toEqual({ publicContent: "Public Content." });
    });
  });

  describe("unexpected errors", () => {
    it("reach the client masked as INTERNAL_SERVER_ERROR with the request id that is in the log", async () => {
      const user = await createSignedInUser(ctx.server);
      // Simulates a bug deep in a service; the database and the server stay real.
      jest
        .spyOn(ctx.server.app.services.users, "findById")
        .mockRejectedValueOnce(new Error("secret internal detail"));
      const logsBefore = ctx.server.logs.length;

      const response = await ctx.server.execute(MeDocument, {}, { token: user.accessToken });

      const error = expectError(response, "INTERNAL_SERVER_ERROR");
      expect(error.message).toBe("Internal server error.");
      expect(response.text).not.toContain("secret internal detail");
      expect(error.extensions?.stacktrace).toBeUndefined();
      const requestId = response.headers.get("x-request-id");
      expect(requestId).toMatch(/^[0-9a-f-]{36}$/);
      expect(error.extensions?.requestId).toBe(requestId);

      const lines = ctx.server.logs
        .slice(logsBefore)
        .map((line) => JSON.parse(line) as Record<string, unknown>);
      const errorLine = lines.find((line) => JSON.stringify(line).includes("secret internal"));
      expect(errorLine).toBeDefined();
      expect(errorLine?.level).toBeGreaterThanOrEqual(50);
      expect(errorLine?.requestId).toBe(requestId);
      const requestLine = lines.find((line) => line.msg === "graphql request");
      expect(requestLine?.requestId).toBe(requestId);
      expect(requestLine?.errorCodes).toEqual(["INTERNAL_SERVER_ERROR"]);

      // The failure was one request's: the next one is served normally.
      const again = await ctx.server.execute(MeDocument, {}, { token: user.accessToken });
      expect(expectData(again).me?.id).toBe(user.user.id);
    });
  });

  describe("in production", () => {
    const productionEnv = () => ({
      NODE_ENV: "production",
      // Production requires these; the test's database connection is already open.
      MONGODB_URI: process.env.TEST_MONGODB_URI ?? "mongodb://127.0.0.1:27017",
      BCRYPT_ROUNDS: "10",
    });

    it("refuses introspection", async () => {
      const production = await startTestServer(productionEnv());
      try {
        const response = await query(production, getIntrospectionQuery());
        expect(response.status).toBe(400);
        const error = expectOnlyError(response, "GRAPHQL_VALIDATION_FAILED");
        expect(error.message).toMatch(/introspection/i);
        expect(response.data).toBeUndefined();

        const typeQuery = await query(production, '{ __type(name: "User") { name } }');
        expectOnlyError(typeQuery, "GRAPHQL_VALIDATION_FAILED");
        await expectStillServing(production);
      } finally {
        await production.close();
      }
    });

    it("serves no IDE landing page to a browser", async () => {
      const production = await startTestServer(productionEnv());
      try {
        const response = await fetch(production.url, { headers: { accept: "text/html" } });
        const text = await response.text();
        expect(response.headers.get("content-type")).not.toMatch(/text\/html/);
        expect(response.status).not.toBe(200);
        expect(text).not.toMatch(/<html/i);
      } finally {
        await production.close();
      }
      // Outside production the same request gets the landing page: the test can tell.
      const development = await fetch(ctx.server.url, { headers: { accept: "text/html" } });
      expect(development.status).toBe(200);
      expect(development.headers.get("content-type")).toMatch(/text\/html/);
      await development.text();
    });

    it("allows introspection when GRAPHQL_INTROSPECTION is true", async () => {
      const production = await startTestServer({
        ...productionEnv(),
        GRAPHQL_INTROSPECTION: "true",
      });
      try {
        const response = await query(production, getIntrospectionQuery());
        expect(response.status).toBe(200);
        expect(response.errors).toBeUndefined();
        expect(response.data).toHaveProperty("__schema.queryType.name", "Query");
      } finally {
        await production.close();
      }
    });
  });
});
