import net from "node:net";
import type { GraphQLFormattedError } from "graphql";
import mongoose from "mongoose";
import { dictionary } from "@zxcvbn-ts/language-common";
import { hasControlCharacters } from "../src/services/account-rules";
import { ADMIN, uniqueName, useTestServer } from "./setup/kit";
import { answerOf, dataOf, LEAK, type Answer } from "./setup/raw-answers";

/**
 * Throws bad input at the running server over HTTP: malformed bodies, wrong content types,
 * hostile documents, odd Unicode and MongoDB-operator shapes in every string argument.
 * For each input: a clear JSON error with a fitting code (never INTERNAL_SERVER_ERROR, HTML
 * or a stack trace), the server still answers the next request, and at the end no data
 * changed that should not have.
 */

// Raw documents rather than generated ones: half of what is sent here is meant to be wrong.
const SIGNUP = `mutation AdvSignup($input: SignupInput!) {
  signup(input: $input) { id username email roles }
}`;
const SIGNIN = `mutation AdvSignin($input: SigninInput!) {
  signin(input: $input) { accessToken refreshToken user { id roles } }
}`;
const REFRESH = `mutation AdvRefresh($refreshToken: String!) {
  refreshToken(refreshToken: $refreshToken) { accessToken refreshToken }
}`;
const SIGNOUT = `mutation AdvSignout($refreshToken: String!) { signout(refreshToken: $refreshToken) }`;
const SET_ROLES = `mutation AdvSetRoles($userId: ID!, $roles: [Role!]!) {
  setUserRoles(userId: $userId, roles: $roles) { id roles }
}`;
const PUBLIC = "{ publicContent }";
const PUBLIC_BODY = JSON.stringify({ query: PUBLIC });

/** Fits every signup rule, so a refusal in the other fields is about the field under test. */
const GOOD_PASSWORD = "Tr0ub4dor&3-horse";
const STRING_CAP = 1024;

/** The error a client must get. Fields left out are not checked. */
interface Refusal {
  /** The one code every error must carry; a list means any one of them. */
  code: string | readonly string[];
  status?: number;
  reason?: string;
  field?: string;
  message?: RegExp;
}

interface GraphQLBody {
  data?: Record<string, unknown> | null;
  errors?: GraphQLFormattedError[];
}

const INVALID_CREDENTIALS: Refusal = {
  status: 200,
  code: "UNAUTHENTICATED",
  reason: "INVALID_CREDENTIALS",
};
const REFRESH_TOKEN_INVALID: Refusal = {
  status: 200,
  code: "UNAUTHENTICATED",
  reason: "REFRESH_TOKEN_INVALID",
};
const OVER_STRING_CAP: Refusal = {
  status: 400,
  code: "BAD_USER_INPUT",
  message: new RegExp(`the limit is ${STRING_CAP}\\.$`),
};
/** graphql-js variable coercion: the value never reaches a resolver. */
const NOT_COERCIBLE: Refusal = {
  status: 400,
  code: "BAD_USER_INPUT",
  message: /^Variable "\$\w+" (got invalid value|of non-null type)/,
};
const badField = (field: string): Refusal => ({ status: 200, code: "BAD_USER_INPUT", field });
const badRequest = (status: number, message: RegExp): Refusal => ({
  status,
  code: "BAD_REQUEST",
  message,
});
const parseFailed: Refusal = { status: 400, code: "GRAPHQL_PARSE_FAILED" };
const validationFailed = (message?: RegExp): Refusal => ({
  status: 400,
  code: "GRAPHQL_VALIDATION_FAILED",
  ...(message ? { message } : {}),
});
const CSRF = badRequest(400, /Cross-Site Request Forgery/);
const NOT_JSON = badRequest(400, /^Request body is not valid JSON\.$/);

function parseBody(text: string): GraphQLBody | undefined {
  try {
    return JSON.parse(text) as GraphQLBody;
  } catch {
    return undefined;
  }
}

/** The parts of an answer a client branches on, in one object so a failure shows them all. */
function summarize(answer: Answer) {
  const body = parseBody(answer.text);
  const first = body?.errors?.[0];
  return {
    status: answer.status,
    json: answer.contentType.startsWith("application/json") && body !== undefined,
    data: body?.data ?? null,
    codes: [...new Set((body?.errors ?? []).map((e) => e.extensions?.code))],
    reason: first?.extensions?.reason,
    field: first?.extensions?.field,
    message: first?.message,
  };
}

function expectRefusal(answer: Answer, expected: Refusal): void {
  const got = summarize(answer);
  const allowed = typeof expected.code === "string" ? [expected.code] : expected.code;
  const [onlyCode, ...more] = got.codes;
  expect(got).toEqual({
    status: expected.status ?? got.status,
    json: true,
    data: null,
    codes: more.length === 0 && allowed.includes(String(onlyCode)) ? got.codes : allowed,
    reason: expected.reason ?? got.reason,
    field: expected.field ?? got.field,
    message: expected.message ? expect.stringMatching(expected.message) : got.message,
  });
  expect(answer.status).toBeLessThan(500);
  expect(answer.text).not.toMatch(LEAK);
}

/** Writes bytes on a fresh socket and returns whatever comes back, for requests fetch won't make. */
function rawHttp(url: string, request: string): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), hostname, () => socket.end(request, "latin1"));
    let received = "";
    socket.setEncoding("latin1");
    socket.on("data", (chunk: string) => (received += chunk));
    socket.on("end", () => resolve(received));
    socket.on("error", reject);
    socket.setTimeout(5000, () => {
      socket.destroy();
      reject(new Error(`no answer within 5 s; got so far: ${JSON.stringify(received)}`));
    });
  });
}

// ---------------------------------------------------------------------------------------------
// Odd strings, each derived from a real value (a name, an email, a live token, an id) so that it
// looks like that value. Every one of them goes into every string argument.

const FULLWIDTH_OFFSET = 0xff01 - 0x21;
const CYRILLIC: Record<string, string> = {
  a: "\u0430",
  c: "\u0441",
  e: "\u0435",
  o: "\u043e",
  p: "\u0440",
  x: "\u0445",
  y: "\u0443",
};

function middle(base: string, insert: string): string {
  const at = Math.ceil(base.length / 2);
  return `${base.slice(0, at)}${insert}${base.slice(at)}`;
}

function homoglyph(base: string, table: Record<string, string>): string {
  const index = [...base].findIndex((ch) => table[ch] !== undefined);
  if (index < 0) return `${Object.values(table)[0]}${base}`;
  const chars = [...base];
  chars[index] = table[chars[index]!]!;
  return chars.join("");
}

function mathBold(base: string): string {
  return [...base]
    .map((ch) => {
      const code = ch.codePointAt(0)!;
      if (ch >= "a" && ch <= "z") return String.fromCodePoint(0x1d41a + code - 0x61);
      if (ch >= "A" && ch <= "Z") return String.fromCodePoint(0x1d400 + code - 0x41);
      if (ch >= "0" && ch <= "9") return String.fromCodePoint(0x1d7ce + code - 0x30);
      return ch;
    })
    .join("");
}

interface Oddity {
  readonly name: string;
  readonly make: (base: string) => string;
  /** When the string is refused for its length whatever the argument. */
  readonly refusal?: Refusal;
}

const ODD_STRINGS: readonly Oddity[] = [
  { name: "a NUL byte inside", make: (b) => middle(b, "\u0000") },
  { name: "a NUL byte at the end", make: (b) => `${b}\u0000` },
  { name: "a NUL byte and more text after it", make: (b) => `${b}\u0000extra` },
  { name: "a right-to-left override", make: (b) => `\u202e${b}` },
  { name: "a left-to-right mark inside", make: (b) => middle(b, "\u200e") },
  { name: "a zero-width joiner inside", make: (b) => middle(b, "\u200d") },
  { name: "a zero-width space inside", make: (b) => middle(b, "\u200b") },
  { name: "a byte order mark inside", make: (b) => middle(b, "\ufeff") },
  { name: "a soft hyphen inside", make: (b) => middle(b, "\u00ad") },
  { name: "an emoji", make: (b) => `${b}\u{1f600}` },
  { name: "an emoji ZWJ sequence", make: (b) => `${b}\u{1f469}\u200d\u{1f4bb}` },
  { name: "a lone high surrogate", make: (b) => `${b}\ud800` },
  { name: "a lone low surrogate", make: (b) => `\udc00${b}` },
  { name: "a combining accent", make: (b) => `${b.slice(0, 1)}\u0301${b.slice(1)}` },
  { name: "a pile of combining marks", make: (b) => `${b.slice(0, 1)}${"\u0336".repeat(40)}` },
  { name: "a Cyrillic homoglyph", make: (b) => homoglyph(b, CYRILLIC) },
  { name: "a Greek homoglyph", make: (b) => homoglyph(b, { o: "\u03bf", i: "\u03b9" }) },
  {
    name: "a Turkish dotted capital I",
    make: (b) => (b.includes("i") ? b.replace("i", "\u0130") : `${b}\u0130`),
  },
  {
    name: "fullwidth letters",
    make: (b) =>
      b.replace(/[!-~]/g, (ch) => String.fromCharCode(ch.charCodeAt(0) + FULLWIDTH_OFFSET)),
  },
  { name: "mathematical bold letters", make: mathBold },
  { name: "a tab inside", make: (b) => middle(b, "\t") },
  { name: "CR LF and a header", make: (b) => `${b}\r\nSet-Cookie: pwned=1` },
  { name: 'the text {"$gt": ""}', make: () => '{"$gt": ""}' },
  { name: 'the text {"$ne": null}', make: () => '{"$ne": null}' },
  { name: 'the text {"$regex": ".*"}', make: () => '{"$regex": ".*"}' },
  { name: "a $where clause", make: () => "$where: function() { return true; }" },
  { name: "a field path with $", make: (b) => `${b}.$[]` },
  { name: "the regex .*", make: () => ".*" },
  { name: "SQL injection", make: (b) => `${b}' OR '1'='1' --` },
  { name: "JavaScript injection", make: (b) => `${b}'; return true; var x='` },
  { name: "a path traversal", make: () => "../../../../etc/passwd" },
  { name: "an empty string", make: () => "" },
  { name: "only spaces", make: () => "   " },
  { name: "only zero-width spaces", make: () => "\u200b\u200b\u200b" },
  {
    name: "1000 characters (under the string cap)",
    make: (b) => `${b}${"x".repeat(1000 - b.length)}`,
  },
  {
    name: `${STRING_CAP + 1} characters (over the string cap)`,
    make: (b) => `${b}${"x".repeat(STRING_CAP + 1 - b.length)}`,
    refusal: OVER_STRING_CAP,
  },
  {
    name: "90 000 characters (under the body limit)",
    make: (b) => `${b}${"x".repeat(90_000 - b.length)}`,
    refusal: OVER_STRING_CAP,
  },
];

/** JSON values where a string belongs: the shapes of MongoDB query operators, and others. */
const NOT_STRINGS: ReadonlyArray<readonly [string, unknown]> = [
  ['{"$gt": ""}', { $gt: "" }],
  ['{"$ne": null}', { $ne: null }],
  ['{"$regex": ".*"}', { $regex: ".*" }],
  ['{"$where": "return true"}', { $where: "return true" }],
  ['{"$in": [admin name, admin email]}', { $in: [ADMIN.username, ADMIN.email] }],
  ['{"$exists": true}', { $exists: true }],
  ['{"toString": admin name}', { toString: ADMIN.username }],
  ["an empty object", {}],
  ["an array holding the right value", [ADMIN.username]],
  ["the number 0", 0],
  ["true", true],
  ["null", null],
];

// ---------------------------------------------------------------------------------------------

interface Fixture {
  adminToken: string;
  adminId: string;
  victim: { id: string; username: string; email: string; password: string };
  /** A live refresh token that the attacks on refreshToken must leave unspent. */
  rotateMe: string;
  /** A live refresh token whose session the attacks on signout must leave open. */
  signOutMe: string;
}

interface UserSnapshot {
  _id: unknown;
  username: string;
  usernameKey: string;
  email: string;
  roles: string[];
  passwordHash: string;
}

interface Snapshot {
  users: Map<string, UserSnapshot>;
  sessions: Map<string, { userId: string; revoked: boolean }>;
  refreshTokens: number;
}

async function snapshot(): Promise<Snapshot> {
  const db = mongoose.connection.db;
  if (!db) throw new Error("the test database is not connected");
  const users = await db.collection<UserSnapshot>("users").find({}).toArray();
  const sessions = await db.collection("sessions").find({}).toArray();
  return {
    users: new Map(
      users.map((u) => [
        String(u._id),
        {
          _id: String(u._id),
          username: u.username,
          usernameKey: u.usernameKey,
          email: u.email,
          roles: [...u.roles],
          passwordHash: u.passwordHash,
        },
      ]),
    ),
    sessions: new Map(
      sessions.map((s) => [
        String(s._id),
        { userId: String(s.userId), revoked: Boolean(s.revoked) },
      ]),
    ),
    refreshTokens: await db.collection("refresh_tokens").countDocuments(),
  };
}

describe("adversarial input", () => {
  const ctx = useTestServer();
  let fixture: Fixture;
  let before: Snapshot;
  /** Accounts the suite creates on purpose (passwords with odd characters are allowed). */
  const createdOnPurpose = new Set<string>();
  let tried = 0;
  let answered = 0;
  let wronglyAnswered = 0;

  const post = async (body: string, headers: Record<string, string> = {}) =>
    answerOf(await ctx.server.post(body, headers));

  const gql = (
    query: string,
    variables?: Record<string, unknown>,
    headers?: Record<string, string>,
  ) => post(JSON.stringify({ query, variables }), headers);

  async function signinRaw(username: string, password: string) {
    const result = dataOf(await gql(SIGNIN, { input: { username, password } }));
    return result.signin as {
      accessToken: string;
      refreshToken: string;
      user: { id: string; roles: string[] };
    };
  }

  async function expectStillServing(): Promise<void> {
    const answer = await post(PUBLIC_BODY);
    expect(summarize(answer)).toMatchObject({
      status: 200,
      data: { publicContent: "Public Content." },
    });
  }

  /** One bad input: the refusal it must get, then proof the server still serves. */
  async function attack(send: () => Promise<Answer>, expected: Refusal): Promise<void> {
    tried += 1;
    let failure: unknown;
    try {
      expectRefusal(await send(), expected);
    } catch (error) {
      wronglyAnswered += 1;
      failure = error;
    }
    // Checked even after a wrong answer: a crash must not hide behind a failed assertion.
    await expectStillServing();
    answered += 1;
    if (failure) throw failure;
  }

  beforeAll(async () => {
    const victim = {
      username: uniqueName("victim"),
      email: `${uniqueName("victim")}@example.com`,
      password: "victim-Pa55word!",
    };
    const created = dataOf(await gql(SIGNUP, { input: victim }));
    const victimId = (created.signup as { id: string }).id;
    const admin = await signinRaw(ADMIN.username, ADMIN.password);
    const first = await signinRaw(victim.username, victim.password);
    const second = await signinRaw(victim.username, victim.password);
    fixture = {
      adminToken: admin.accessToken,
      adminId: admin.user.id,
      victim: { ...victim, id: victimId },
      rotateMe: first.refreshToken,
      signOutMe: second.refreshToken,
    };
    before = await snapshot();
  });

  afterAll(() => {
    const unanswered = tried - answered;
    console.log(
      `adversarial suite: ${tried} bad inputs tried, ${
        unanswered === 0 ? "all answered" : `${unanswered} not confirmed answered`
      }${wronglyAnswered > 0 ? `, ${wronglyAnswered} with the wrong error` : ""}`,
    );
  });

  // -------------------------------------------------------------------------------------------
  describe("malformed request bodies", () => {
    const cases: ReadonlyArray<{ name: string; body: string; refusal: Refusal }> = [
      { name: "truncated JSON", body: '{"query":"{ publicCont', refusal: NOT_JSON },
      { name: "JSON with trailing garbage", body: `${PUBLIC_BODY}garbage`, refusal: NOT_JSON },
      { name: "two JSON documents", body: `${PUBLIC_BODY}${PUBLIC_BODY}`, refusal: NOT_JSON },
      { name: "single-quoted JSON", body: "{'query': '{ publicContent }'}", refusal: NOT_JSON },
      { name: "unquoted keys", body: '{query: "{ publicContent }"}', refusal: NOT_JSON },
      {
        name: "a JSON comment",
        body: '{"query": "{ publicContent }" /* hi */}',
        refusal: NOT_JSON,
      },
      { name: "NaN", body: '{"query": NaN}', refusal: NOT_JSON },
      { name: "the JSON value null", body: "null", refusal: NOT_JSON },
      { name: "a JSON string", body: '"{ publicContent }"', refusal: NOT_JSON },
      { name: "a JSON number", body: "42", refusal: NOT_JSON },
      { name: "the JSON value true", body: "true", refusal: NOT_JSON },
      { name: "an empty body", body: "", refusal: badRequest(400, /POST body missing/) },
      { name: "an empty object", body: "{}", refusal: badRequest(400, /POST body missing/) },
      { name: "an empty array", body: "[]", refusal: badRequest(400, /batching disabled/) },
      {
        name: "a batch of two operations (batching is off)",
        body: `[${PUBLIC_BODY},${PUBLIC_BODY}]`,
        refusal: badRequest(400, /batching disabled/),
      },
      {
        name: "a query that is a number",
        body: '{"query": 42}',
        refusal: badRequest(400, /queries must be strings/),
      },
      {
        name: "a query that is a MongoDB operator",
        body: '{"query": {"$ne": null}}',
        refusal: badRequest(400, /queries must be strings/),
      },
      {
        name: "a query that is an array",
        body: '{"query": ["{ publicContent }"]}',
        refusal: badRequest(400, /queries must be strings/),
      },
      {
        name: "an empty query",
        body: '{"query": ""}',
        refusal: badRequest(400, /non-empty `query`/),
      },
      {
        name: "variables as a JSON-encoded string",
        body: JSON.stringify({ query: PUBLIC, variables: "{}" }),
        refusal: badRequest(400, /`variables`/),
      },
      {
        name: "variables as an array",
        body: JSON.stringify({ query: PUBLIC, variables: [] }),
        refusal: badRequest(400, /`variables`/),
      },
      {
        name: "variables as a number",
        body: JSON.stringify({ query: PUBLIC, variables: 42 }),
        refusal: badRequest(400, /`variables`/),
      },
      {
        name: "operationName as a number",
        body: JSON.stringify({ query: PUBLIC, operationName: 42 }),
        refusal: badRequest(400, /`operationName`/),
      },
      {
        name: "operationName as an object",
        body: JSON.stringify({ query: PUBLIC, operationName: { $ne: null } }),
        refusal: badRequest(400, /`operationName`/),
      },
      {
        name: "extensions as a JSON-encoded string",
        body: JSON.stringify({ query: PUBLIC, extensions: "{}" }),
        refusal: badRequest(400, /`extensions`/),
      },
      // Automatic persisted queries are off: every form of them is refused the same way.
      {
        name: "a persisted-query hash the server never saw",
        body: JSON.stringify({ extensions: { persistedQuery: { version: 1, sha256Hash: "00" } } }),
        refusal: { status: 200, code: "PERSISTED_QUERY_NOT_SUPPORTED" },
      },
      {
        name: "a persisted-query hash that does not match the query",
        body: JSON.stringify({
          query: PUBLIC,
          extensions: { persistedQuery: { version: 1, sha256Hash: "00" } },
        }),
        refusal: { status: 200, code: "PERSISTED_QUERY_NOT_SUPPORTED" },
      },
      {
        name: "an unsupported persisted-query version",
        body: JSON.stringify({ extensions: { persistedQuery: { version: 2, sha256Hash: "00" } } }),
        refusal: { status: 200, code: "PERSISTED_QUERY_NOT_SUPPORTED" },
      },
      {
        name: "a lone surrogate escape inside the query",
        body: '{"query":"{ publicContent \\ud800 }"}',
        refusal: parseFailed,
      },
      {
        name: "a NUL escape inside the query",
        body: '{"query":"{ publicContent \\u0000 }"}',
        refusal: parseFailed,
      },
      {
        name: "a string variable nested 40 000 arrays deep",
        body: `{"query":${JSON.stringify(SIGNIN)},"variables":{"input":{"username":${"[".repeat(
          40_000,
        )}${"]".repeat(40_000)},"password":"x"}}}`,
        refusal: NOT_COERCIBLE,
      },
      {
        name: "a body over the 100 kB limit",
        body: JSON.stringify({ query: PUBLIC, variables: { padding: "x".repeat(200_000) } }),
        refusal: badRequest(413, /larger than 102400 bytes/),
      },
    ];

    it.each(cases)("$name is refused", async ({ body, refusal }) => {
      await attack(() => post(body), refusal);
    });

    it("bytes that are not UTF-8 inside the query are a parse error", async () => {
      const body = Buffer.concat([
        Buffer.from('{"query":"{ publicContent '),
        Buffer.from([0xff, 0xfe, 0xc0]),
        Buffer.from(' }"}'),
      ]);
      await attack(
        async () =>
          answerOf(
            await fetch(ctx.server.url, {
              method: "POST",
              headers: { "content-type": "application/json" },
              body,
            }),
          ),
        parseFailed,
      );
    });

    it("a UTF-16 body sent as application/json is not valid JSON", async () => {
      await attack(
        async () =>
          answerOf(
            await fetch(ctx.server.url, {
              method: "POST",
              headers: { "content-type": "application/json" },
              body: Buffer.from(PUBLIC_BODY, "utf16le"),
            }),
          ),
        NOT_JSON,
      );
    });

    it("__proto__ and constructor keys in an input object are refused and pollute nothing", async () => {
      const username = uniqueName("proto");
      const polluting = [
        `{"query":${JSON.stringify(SIGNUP)},"variables":{"input":{"username":"${username}","email":"${username}@example.com","password":"${GOOD_PASSWORD}","__proto__":{"roles":["ADMIN"],"isAdmin":true}}}}`,
        `{"query":${JSON.stringify(SIGNUP)},"variables":{"input":{"username":"${username}","email":"${username}@example.com","password":"${GOOD_PASSWORD}","constructor":{"prototype":{"roles":["ADMIN"],"isAdmin":true}}}}}`,
        `{"query":${JSON.stringify(PUBLIC)},"__proto__":{"isAdmin":true},"variables":{"__proto__":{"isAdmin":true}}}`,
      ];
      await attack(() => post(polluting[0]!), {
        ...NOT_COERCIBLE,
        message: /Field "__proto__" is not defined by type "SignupInput"/,
      });
      await attack(() => post(polluting[1]!), {
        ...NOT_COERCIBLE,
        message: /Field "constructor" is not defined by type "SignupInput"/,
      });
      // Keys the server ignores may be answered, but must not reach any prototype.
      tried += 1;
      expect(summarize(await post(polluting[2]!)).data).toEqual({
        publicContent: "Public Content.",
      });
      await expectStillServing();
      answered += 1;
      // The server runs in this process: a polluted prototype would show here.
      expect(({} as Record<string, unknown>).isAdmin).toBeUndefined();
      expect(({} as Record<string, unknown>).roles).toBeUndefined();
    });
  });

  // -------------------------------------------------------------------------------------------
  describe("content types, encodings and methods", () => {
    const url = () => ctx.server.url;
    const cases: ReadonlyArray<{
      name: string;
      send: () => Promise<Response>;
      refusal: Refusal;
    }> = [
      {
        name: "text/plain (a simple request a form could send)",
        send: () => ctx.server.post(PUBLIC_BODY, { "content-type": "text/plain" }),
        refusal: CSRF,
      },
      {
        name: "application/x-www-form-urlencoded",
        send: () =>
          ctx.server.post("query=%7B+publicContent+%7D", {
            "content-type": "application/x-www-form-urlencoded",
          }),
        refusal: CSRF,
      },
      {
        name: "multipart/form-data",
        send: () =>
          ctx.server.post(
            `--x\r\nContent-Disposition: form-data; name="operations"\r\n\r\n${PUBLIC_BODY}\r\n--x--\r\n`,
            { "content-type": "multipart/form-data; boundary=x" },
          ),
        refusal: CSRF,
      },
      {
        name: "no content type at all",
        send: () => fetch(url(), { method: "POST", body: new TextEncoder().encode(PUBLIC_BODY) }),
        refusal: CSRF,
      },
      {
        name: "an empty body without content type",
        send: () => fetch(url(), { method: "POST" }),
        refusal: CSRF,
      },
      {
        name: "application/graphql",
        send: () => ctx.server.post(PUBLIC, { "content-type": "application/graphql" }),
        refusal: badRequest(400, /POST body missing/),
      },
      {
        name: "application/xml",
        send: () => ctx.server.post("<query/>", { "content-type": "application/xml" }),
        refusal: badRequest(400, /POST body missing/),
      },
      {
        name: "an unsupported charset",
        send: () =>
          ctx.server.post(PUBLIC_BODY, { "content-type": "application/json; charset=koi8-r" }),
        refusal: badRequest(415, /^Bad request\.$/),
      },
      {
        name: "a made-up charset",
        send: () =>
          ctx.server.post(PUBLIC_BODY, { "content-type": "application/json; charset=nope" }),
        refusal: badRequest(415, /^Bad request\.$/),
      },
      {
        name: "Content-Encoding gzip on a body that is not gzip",
        send: () => ctx.server.post(PUBLIC_BODY, { "content-encoding": "gzip" }),
        refusal: badRequest(400, /^Bad request\.$/),
      },
      {
        name: "Content-Encoding deflate on a body that is not deflated",
        send: () => ctx.server.post(PUBLIC_BODY, { "content-encoding": "deflate" }),
        refusal: badRequest(400, /^Bad request\.$/),
      },
      {
        name: "an unknown Content-Encoding",
        send: () => ctx.server.post(PUBLIC_BODY, { "content-encoding": "x-rot13" }),
        refusal: badRequest(415, /^Bad request\.$/),
      },
      {
        name: "GET with a query but no preflight header",
        send: () =>
          fetch(`${url()}?query=${encodeURIComponent(PUBLIC)}`, {
            headers: { accept: "application/json" },
          }),
        refusal: CSRF,
      },
      {
        name: "GET without a query",
        send: () => fetch(url(), { headers: { accept: "application/json" } }),
        refusal: CSRF,
      },
      {
        name: "GET without a query, with a preflight header",
        send: () =>
          fetch(url(), {
            headers: { accept: "application/json", "apollo-require-preflight": "true" },
          }),
        refusal: badRequest(400, /non-empty `query`/),
      },
      {
        name: "GET with a mutation",
        send: () =>
          fetch(`${url()}?query=${encodeURIComponent("mutation { signoutAll }")}`, {
            headers: { "apollo-require-preflight": "true" },
          }),
        refusal: badRequest(405, /only support query operations/),
      },
      {
        name: "GET with a signin mutation in the URL",
        send: () =>
          fetch(
            `${url()}?query=${encodeURIComponent(
              `mutation { signin(input: {username: "${ADMIN.username}", password: "${ADMIN.password}"}) { accessToken } }`,
            )}`,
            { headers: { "apollo-require-preflight": "true" } },
          ),
        refusal: badRequest(405, /only support query operations/),
      },
      {
        name: "GET with a broken query",
        send: () => fetch(`${url()}?query=%`, { headers: { "apollo-require-preflight": "true" } }),
        refusal: parseFailed,
      },
      {
        name: "GET with variables that are not JSON",
        send: () =>
          fetch(`${url()}?query=${encodeURIComponent(PUBLIC)}&variables=nope`, {
            headers: { "apollo-require-preflight": "true" },
          }),
        refusal: badRequest(400, /variables search parameter contains invalid JSON/),
      },
      {
        name: "GET with extensions that are not JSON",
        send: () =>
          fetch(`${url()}?query=${encodeURIComponent(PUBLIC)}&extensions={`, {
            headers: { "apollo-require-preflight": "true" },
          }),
        refusal: badRequest(400, /extensions search parameter contains invalid JSON/),
      },
      {
        name: "PUT",
        send: () =>
          fetch(url(), {
            method: "PUT",
            headers: { "content-type": "application/json" },
            body: PUBLIC_BODY,
          }),
        refusal: badRequest(405, /only GET\/POST/),
      },
      {
        name: "PATCH",
        send: () =>
          fetch(url(), {
            method: "PATCH",
            headers: { "content-type": "application/json" },
            body: PUBLIC_BODY,
          }),
        refusal: badRequest(405, /only GET\/POST/),
      },
      {
        name: "DELETE with a preflight header",
        send: () =>
          fetch(url(), { method: "DELETE", headers: { "apollo-require-preflight": "true" } }),
        refusal: badRequest(405, /only GET\/POST/),
      },
    ];

    it.each(cases)("$name is refused", async ({ send, refusal }) => {
      await attack(async () => answerOf(await send()), refusal);
    });

    it("an unknown path answers 404 without an HTML page", async () => {
      tried += 1;
      const response = await fetch(`${ctx.server.origin}/graphql-admin/../nope`, {
        headers: { accept: "application/json" },
      });
      const answer = await answerOf(response);
      await expectStillServing();
      answered += 1;
      expect({ status: answer.status, contentType: answer.contentType }).toEqual({
        status: 404,
        contentType: expect.stringMatching(/^application\/json/),
      });
      expect(answer.text).not.toMatch(LEAK);
    });
  });

  // -------------------------------------------------------------------------------------------
  describe("broken HTTP on a raw socket", () => {
    const request = (extraHeaders: string, body = PUBLIC_BODY) => {
      const host = new URL(ctx.server.url).host;
      return (
        `POST /graphql HTTP/1.1\r\nHost: ${host}\r\nContent-Type: application/json\r\n` +
        `${extraHeaders}Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`
      );
    };
    const cases: ReadonlyArray<{ name: string; raw: () => string; status: string }> = [
      {
        name: "a NUL byte in a header value",
        raw: () => request("X-Test: a\u0000b\r\n"),
        status: "400",
      },
      {
        name: "a folded header line",
        raw: () => request("X-Test: a\r\n folded\r\n"),
        status: "400",
      },
      {
        name: "Content-Length and Transfer-Encoding together (smuggling)",
        raw: () =>
          `POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n` +
          `Transfer-Encoding: chunked\r\nContent-Length: 5\r\nConnection: close\r\n\r\n0\r\n\r\n`,
        status: "400",
      },
      {
        name: "a chunk size that is not hex",
        raw: () =>
          `POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n` +
          `Transfer-Encoding: chunked\r\nConnection: close\r\n\r\nzz\r\nabc\r\n0\r\n\r\n`,
        status: "400",
      },
      {
        name: "20 kB of headers",
        raw: () => request(`X-Big: ${"a".repeat(20_000)}\r\n`),
        status: "431",
      },
      { name: "a request line that is garbage", raw: () => "GARBAGE\r\n\r\n", status: "400" },
      {
        name: "a space in the path",
        raw: () => "GET /gra phql HTTP/1.1\r\nHost: x\r\n\r\n",
        status: "400",
      },
    ];

    it.each(cases)("$name gets a bare $status", async ({ raw, status }) => {
      tried += 1;
      const response = await rawHttp(ctx.server.url, raw());
      await expectStillServing();
      answered += 1;
      expect(response.split("\r\n")[0]).toMatch(new RegExp(`^HTTP/1\\.1 ${status} `));
      expect(response).not.toMatch(LEAK);
    });
  });

  // -------------------------------------------------------------------------------------------
  describe("hostile GraphQL documents", () => {
    const aliases = (n: number) =>
      `{ ${Array.from({ length: n }, (_, i) => `a${i}: publicContent`).join(" ")} }`;
    const cases: ReadonlyArray<{ name: string; query: string; refusal: Refusal }> = [
      { name: "an unclosed selection set", query: "{ publicContent", refusal: parseFailed },
      { name: "only whitespace", query: "   ", refusal: parseFailed },
      { name: "only a comment", query: "# nothing here", refusal: parseFailed },
      { name: "an unterminated string", query: '{ publicContent(x: "abc) }', refusal: parseFailed },
      {
        name: "an invalid string escape",
        query: '{ publicContent(x: "\\x00") }',
        refusal: parseFailed,
      },
      { name: "a raw NUL character", query: "{ publicContent\u0000 }", refusal: parseFailed },
      {
        name: "a $where key in an input object literal",
        query: `mutation { signin(input: {username: "${ADMIN.username}", password: "x", $where: "1"}) { accessToken } }`,
        refusal: parseFailed,
      },
      {
        name: "an unknown field",
        query: "{ nope }",
        refusal: validationFailed(/Cannot query field "nope"/),
      },
      {
        name: "a subscription (the schema has none)",
        query: "subscription { publicContent }",
        refusal: { code: ["GRAPHQL_VALIDATION_FAILED", "BAD_REQUEST"] },
      },
      {
        name: "a mutation without its arguments",
        query: "mutation { signin }",
        refusal: validationFailed(),
      },
      {
        name: "an operator object literal where a string belongs",
        query: `mutation { signin(input: {username: {gt: ""}, password: {ne: ""}}) { accessToken } }`,
        refusal: validationFailed(/String cannot represent a non string value/),
      },
      {
        name: "an unknown input field literal",
        query: `mutation { signin(input: {username: "${ADMIN.username}", password: "x", where: "1"}) { accessToken } }`,
        refusal: validationFailed(/Field "where" is not defined by type "SigninInput"/),
      },
      {
        name: "a list nested 500 deep in an argument",
        query: `mutation { signin(input: {username: ${"[".repeat(500)}"x"${"]".repeat(500)}, password: "x"}) { accessToken } }`,
        refusal: validationFailed(),
      },
      {
        name: "a role given as a string literal",
        query: 'mutation { setUserRoles(userId: "x", roles: ["ADMIN"]) { id } }',
        refusal: validationFailed(/Enum "Role" cannot represent non-enum value/),
      },
      {
        name: "an unknown role",
        query: 'mutation { setUserRoles(userId: "x", roles: [ROOT]) { id } }',
        refusal: validationFailed(/Value "ROOT" does not exist in "Role" enum/),
      },
      {
        name: "an id that is a huge float",
        query: "mutation { setUserRoles(userId: 1e999999, roles: [ADMIN]) { id } }",
        refusal: validationFailed(/ID cannot represent/),
      },
      {
        name: "an argument the field does not have",
        query: '{ publicContent(where: {username: {gt: ""}}) }',
        refusal: validationFailed(/Unknown argument "where"/),
      },
      {
        name: "a directive with a string where a boolean belongs",
        query: '{ publicContent @include(if: "yes") }',
        refusal: validationFailed(),
      },
      {
        name: "a directive in the wrong place",
        query: "query @skip(if: true) { publicContent }",
        refusal: validationFailed(),
      },
      {
        name: "an unknown directive",
        query: '{ publicContent @exec(cmd: "id") }',
        refusal: validationFailed(/Unknown directive "@exec"/),
      },
      {
        name: "a fragment cycle",
        query: "query { ...A } fragment A on Query { ...B } fragment B on Query { ...A }",
        refusal: validationFailed(/Cannot spread fragment "A" within itself/),
      },
      {
        name: "an unused fragment",
        query: "{ publicContent } fragment Unused on Query { publicContent }",
        refusal: validationFailed(/Fragment "Unused" is never used/),
      },
      {
        name: "an undefined variable",
        query: "mutation { signin(input: $missing) { accessToken } }",
        refusal: validationFailed(/Variable "\$missing" is not defined/),
      },
      {
        name: "a variable of an unknown type",
        query: "query ($x: Nope) { publicContent }",
        refusal: validationFailed(),
      },
      {
        name: "two anonymous operations",
        query: "{ publicContent } { publicContent }",
        refusal: validationFailed(/anonymous operation must be the only defined operation/),
      },
      {
        name: "two named operations and no operationName",
        query: "query A { publicContent } query B { publicContent }",
        refusal: { status: 400, code: "OPERATION_RESOLUTION_FAILURE" },
      },
      {
        name: "fields nested 100 deep",
        query: `{ ${"me { ".repeat(100)}id${" }".repeat(100)} }`,
        refusal: validationFailed(),
      },
      {
        name: "introspection nested 20 deep",
        query: `{ __schema { types { ${"fields { type { ".repeat(10)}name${" } }".repeat(10)} } } }`,
        refusal: validationFailed(/Query depth limit exceeded/),
      },
      {
        name: "1500 aliases",
        query: aliases(1500),
        refusal: validationFailed(),
      },
      {
        name: "3000 aliases (past the parser's token limit)",
        query: aliases(3000),
        refusal: { ...parseFailed, message: /more tha[nt] 5000 tokens/ },
      },
      {
        name: "a 50 000-character field name",
        query: `{ ${"f".repeat(50_000)} }`,
        refusal: validationFailed(/Cannot query field/),
      },
      {
        name: `an inline string literal of ${STRING_CAP + 1} characters`,
        query: `mutation { signin(input: {username: "${"u".repeat(STRING_CAP + 1)}", password: "x"}) { accessToken } }`,
        refusal: OVER_STRING_CAP,
      },
      {
        name: `a block string literal of ${STRING_CAP * 2} characters`,
        query: `mutation { signin(input: {username: """${"u".repeat(STRING_CAP * 2)}""", password: "x"}) { accessToken } }`,
        refusal: OVER_STRING_CAP,
      },
      {
        name: "an inline escaped Cyrillic homoglyph of the admin's name with the admin's password",
        query: `mutation { signin(input: {username: "root_\\u0430dmin", password: ${JSON.stringify(ADMIN.password)}}) { accessToken } }`,
        refusal: INVALID_CREDENTIALS,
      },
      {
        name: "an inline escaped NUL after the admin's name with the admin's password",
        query: `mutation { signin(input: {username: "root_admin\\u0000", password: ${JSON.stringify(ADMIN.password)}}) { accessToken } }`,
        refusal: INVALID_CREDENTIALS,
      },
      {
        name: "an inline roles list in an anonymous signup",
        query: `mutation { signup(input: {username: "${uniqueName("roles")}", email: "${uniqueName("roles")}@example.com", password: "${GOOD_PASSWORD}", roles: [ADMIN]}) { id } }`,
        refusal: { status: 200, code: "FORBIDDEN" },
      },
    ];

    it.each(cases)("$name is refused", async ({ query, refusal }) => {
      await attack(() => gql(query), refusal);
    });

    it("an operationName naming no operation is refused", async () => {
      await attack(
        () => post(JSON.stringify({ query: "query A { publicContent }", operationName: "B" })),
        {
          status: 400,
          code: "OPERATION_RESOLUTION_FAILURE",
          message: /Unknown operation named "B"/,
        },
      );
    });

    it("an id literal larger than any integer is refused as a bad userId", async () => {
      await attack(
        () =>
          gql(
            "mutation { setUserRoles(userId: 99999999999999999999999, roles: [ADMIN]) { id } }",
            undefined,
            {
              authorization: `Bearer ${fixture.adminToken}`,
            },
          ),
        badField("userId"),
      );
    });
  });

  // -------------------------------------------------------------------------------------------
  interface Slot {
    readonly name: string;
    readonly base: (f: Fixture) => string;
    readonly send: (f: Fixture, value: unknown) => Promise<Answer>;
    /** What any odd value in this argument must get. */
    readonly refusal: Refusal;
  }

  const SLOTS: readonly Slot[] = [
    {
      name: "signup username",
      base: () => ADMIN.username,
      send: (_f, value) =>
        gql(SIGNUP, {
          input: {
            username: value,
            email: `${uniqueName("odd")}@example.com`,
            password: GOOD_PASSWORD,
          },
        }),
      refusal: badField("username"),
    },
    {
      name: "signup email",
      base: () => ADMIN.email,
      send: (_f, value) =>
        gql(SIGNUP, {
          input: { username: uniqueName("odd"), email: value, password: GOOD_PASSWORD },
        }),
      refusal: badField("email"),
    },
    {
      name: "signin username (with the admin's password)",
      base: () => ADMIN.username,
      send: (_f, value) => gql(SIGNIN, { input: { username: value, password: ADMIN.password } }),
      refusal: INVALID_CREDENTIALS,
    },
    {
      name: "signin username as an email (with the admin's password)",
      base: () => ADMIN.email,
      send: (_f, value) => gql(SIGNIN, { input: { username: value, password: ADMIN.password } }),
      refusal: INVALID_CREDENTIALS,
    },
    {
      name: "signin password (of a real account)",
      base: (f) => f.victim.password,
      send: (f, value) => gql(SIGNIN, { input: { username: f.victim.username, password: value } }),
      refusal: INVALID_CREDENTIALS,
    },
    {
      name: "refreshToken (derived from a live token)",
      base: (f) => f.rotateMe,
      send: (_f, value) => gql(REFRESH, { refreshToken: value }),
      refusal: REFRESH_TOKEN_INVALID,
    },
    {
      name: "signout refreshToken (derived from a live token)",
      base: (f) => f.signOutMe,
      send: (_f, value) => gql(SIGNOUT, { refreshToken: value }),
      refusal: REFRESH_TOKEN_INVALID,
    },
    {
      name: "setUserRoles userId as admin (derived from a real id)",
      base: (f) => f.victim.id,
      send: (f, value) =>
        gql(
          SET_ROLES,
          { userId: value, roles: ["ADMIN"] },
          { authorization: `Bearer ${f.adminToken}` },
        ),
      refusal: badField("userId"),
    },
  ];

  describe.each(SLOTS)("odd strings in $name", (slot) => {
    it.each(ODD_STRINGS)("$name is refused", async (oddity) => {
      const value = oddity.make(slot.base(fixture));
      await attack(() => slot.send(fixture, value), oddity.refusal ?? slot.refusal);
    });
  });

  describe("odd strings in signup password", () => {
    const minPasswordLength = 8;
    const maxPasswordBytes = 72;

    // Passwords may hold any printable characters (NIST SP 800-63B); what matters is that the
    // exact string, and only it, opens the account. Length rules still apply, and control
    // characters are refused: bcrypt stops at NUL, so "\0\0\0\0\0\0\0\0" would sign in as "".
    it.each(ODD_STRINGS)(
      "$name is refused by the password rules or kept exactly",
      async (oddity) => {
        const password = oddity.make(GOOD_PASSWORD);
        const username = uniqueName("pw");
        const signup = () =>
          gql(SIGNUP, { input: { username, email: `${username}@example.com`, password } });
        const refusal: Refusal | undefined =
          oddity.refusal ??
          ([...password].length < minPasswordLength ||
          Buffer.byteLength(password, "utf8") > maxPasswordBytes ||
          hasControlCharacters(password)
            ? badField("password")
            : undefined);
        if (refusal) {
          await attack(signup, refusal);
          return;
        }

        tried += 1;
        expect(dataOf(await signup())).toEqual({
          signup: expect.objectContaining({ username, roles: ["USER"] }),
        });
        createdOnPurpose.add(username);
        expect((await signinRaw(username, password)).user.roles).toEqual(["USER"]);
        const nearMisses = new Set([
          GOOD_PASSWORD,
          password.split("\u0000")[0]!,
          password.slice(0, -1),
          password.replace(/[^\x20-\x7e]/g, ""),
        ]);
        nearMisses.delete(password);
        // Look-alike passwords (the plain one, the part before a NUL, one code unit short):
        // bcrypt implementations that stop at NUL or at a byte limit would let these in.
        tried += nearMisses.size;
        const answers = await Promise.all(
          [...nearMisses].map((nearMiss) =>
            gql(SIGNIN, { input: { username, password: nearMiss } }),
          ),
        );
        await expectStillServing();
        answered += 1 + nearMisses.size;
        for (const answer of answers) expectRefusal(answer, INVALID_CREDENTIALS);
      },
    );
  });

  // -------------------------------------------------------------------------------------------
  const VALUE_SLOTS: ReadonlyArray<{
    name: string;
    send: (f: Fixture, value: unknown) => Promise<Answer>;
  }> = [
    ...SLOTS,
    {
      name: "signup password",
      send: (_f, value) =>
        gql(SIGNUP, {
          input: {
            username: uniqueName("odd"),
            email: `${uniqueName("odd")}@example.com`,
            password: value,
          },
        }),
    },
  ];

  describe.each(VALUE_SLOTS)("JSON values that are not strings in $name", (slot) => {
    it.each(NOT_STRINGS)("%s is a variable coercion error", async (_name, value) => {
      // ID accepts integers: 0 reaches setUserRoles as "0", which is no user id.
      const refusal =
        slot.name.startsWith("setUserRoles") && typeof value === "number"
          ? badField("userId")
          : NOT_COERCIBLE;
      await attack(() => slot.send(fixture, value), refusal);
    });
  });

  describe("role lists that are not roles", () => {
    const roleLists: ReadonlyArray<readonly [string, unknown]> = [
      ["a NUL after ADMIN", ["ADMIN\u0000"]],
      ["lower-case admin", ["admin"]],
      ["a Cyrillic homoglyph of ADMIN", ["\u0410DMIN"]],
      ["an unknown role", ["ROOT"]],
      ["an operator object", [{ $ne: null }]],
      ["a valid role next to an unknown one", ["USER", "SUPERUSER"]],
      ["null inside the list", ["ADMIN", null]],
      ["a number", [0]],
    ];

    it.each(roleLists)(
      "setUserRoles with %s is a variable coercion error",
      async (_name, roles) => {
        await attack(
          () =>
            gql(
              SET_ROLES,
              { userId: fixture.victim.id, roles },
              { authorization: `Bearer ${fixture.adminToken}` },
            ),
          NOT_COERCIBLE,
        );
      },
    );

    it.each(roleLists)(
      "anonymous signup with %s is a variable coercion error",
      async (_name, roles) => {
        const username = uniqueName("roles");
        await attack(
          () =>
            gql(SIGNUP, {
              input: { username, email: `${username}@example.com`, password: GOOD_PASSWORD, roles },
            }),
          NOT_COERCIBLE,
        );
      },
    );

    it.each([
      ["ADMIN", ["ADMIN"]],
      ["an empty list", []],
    ] as const)("anonymous signup asking for %s is FORBIDDEN", async (_name, roles) => {
      const username = uniqueName("roles");
      await attack(
        () =>
          gql(SIGNUP, {
            input: { username, email: `${username}@example.com`, password: GOOD_PASSWORD, roles },
          }),
        { status: 200, code: "FORBIDDEN" },
      );
    });
  });

  // -------------------------------------------------------------------------------------------
  describe("weak passwords, quoted addresses and ids in another case (security review)", () => {
    const signupWith = (fields: { password?: string; email?: string }) => {
      const username = uniqueName("weak");
      return gql(SIGNUP, {
        input: {
          username,
          email: fields.email ?? `${username}@example.com`,
          password: fields.password ?? GOOD_PASSWORD,
        },
      });
    };
    const TOO_COMMON: Refusal = {
      status: 200,
      code: "BAD_USER_INPUT",
      field: "password",
      reason: "PASSWORD_TOO_COMMON",
    };

    // The most common passwords of the list the server checks, plus the review's examples.
    const commonPasswords = [
      ...dictionary["passwords-common"].filter((p) => p.length >= 8).slice(0, 40),
      "password123",
      "Password123",
      "PASSWORD123",
      "        ",
      "aaaaaaaaaaaaaaaa",
      "\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9",
    ];
    it.each(commonPasswords)(
      "signup with the common password %j is PASSWORD_TOO_COMMON",
      async (password) => {
        await attack(() => signupWith({ password }), TOO_COMMON);
      },
    );

    it.each([
      '"root"@example.com',
      '"root@example.com"@example.com',
      '"r o o t"@example.com',
      '"\\"@example.com',
      '""@example.com',
    ])("signup with the quoted address %s is refused", async (email) => {
      await attack(() => signupWith({ email }), badField("email"));
    });

    it.each([
      ["upper case", (id: string) => id.toUpperCase()],
      [
        "mixed case",
        (id: string) => id.replace(/[a-f]/g, (c, i: number) => (i % 2 ? c.toUpperCase() : c)),
      ],
    ] as const)(
      "an admin removing their own ADMIN role through their id in %s is CANNOT_REMOVE_OWN_ADMIN",
      async (_name, spell) => {
        await attack(
          () =>
            gql(
              SET_ROLES,
              { userId: spell(fixture.adminId), roles: ["USER"] },
              { authorization: `Bearer ${fixture.adminToken}` },
            ),
          {
            status: 200,
            code: "BAD_USER_INPUT",
            field: "roles",
            reason: "CANNOT_REMOVE_OWN_ADMIN",
          },
        );
      },
    );
  });

  // -------------------------------------------------------------------------------------------
  describe("afterwards", () => {
    it("no existing account, session or token changed, and no account was created by mistake", async () => {
      const after = await snapshot();

      for (const [id, user] of before.users) expect(after.users.get(id)).toEqual(user);
      const newUsernames = [...after.users.entries()]
        .filter(([id]) => !before.users.has(id))
        .map(([, user]) => user.username)
        .sort();
      expect(newUsernames).toEqual([...createdOnPurpose].sort());

      for (const [id, session] of before.sessions) expect(after.sessions.get(id)).toEqual(session);
      // New sessions come only from signing in to the accounts created on purpose.
      const newUserIds = new Set(
        [...after.users.entries()].filter(([id]) => !before.users.has(id)).map(([id]) => id),
      );
      const newSessions = [...after.sessions.entries()].filter(([id]) => !before.sessions.has(id));
      expect(newSessions.filter(([, s]) => !newUserIds.has(s.userId))).toEqual([]);
      expect(newSessions).toHaveLength(createdOnPurpose.size);
      // One refresh token per new session, none from rotations that should have failed.
      expect(after.refreshTokens).toBe(before.refreshTokens + createdOnPurpose.size);
    });

    it("the accounts still sign in with their passwords and keep their roles", async () => {
      const admin = await signinRaw(ADMIN.username, ADMIN.password);
      expect([...admin.user.roles].sort()).toEqual(["ADMIN", "MODERATOR", "USER"]);
      const victim = await signinRaw(fixture.victim.username, fixture.victim.password);
      expect(victim.user).toEqual({ id: fixture.victim.id, roles: ["USER"] });
    });

    it("the live refresh tokens the attacks were derived from still work", async () => {
      // Neither spent by the refreshToken attacks nor ended by the signout attacks.
      for (const token of [fixture.rotateMe, fixture.signOutMe]) {
        const rotated = dataOf(await gql(REFRESH, { refreshToken: token })).refreshToken;
        expect(rotated).toEqual({
          accessToken: expect.any(String),
          refreshToken: expect.any(String),
        });
      }
    });
  });
});
