import { hmacKid } from "../src/auth/signing-keys";
import { createHmac, randomUUID } from "node:crypto";
import jwt from "jsonwebtoken";
import {
  AdminContentDocument,
  PublicContentDocument,
  UserContentDocument,
  type AuthPayloadFieldsFragment,
} from "./generated/graphql";
import { createSignedInUser, expectData, expectError, useTestServer } from "./setup/kit";
import { TEST_JWT_SECRET } from "./setup/test-server";

const WRONG_SECRET = "a-different-secret-that-is-also-long-enough-0123456789";

const base64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");

describe("access tokens", () => {
  const ctx = useTestServer();
  let user: AuthPayloadFieldsFragment;

  beforeAll(async () => {
    user = await createSignedInUser(ctx.server);
  });

  /** Claims the server would accept for `user`, with `overrides` applied (undefined removes). */
  function claims(overrides: Record<string, unknown> = {}): Record<string, unknown> {
    const now = Math.floor(Date.now() / 1000);
    const base: Record<string, unknown> = {
      sub: user.user.id,
      roles: ["USER"],
      sid: user.sessionId,
      iss: ctx.server.config.jwt.issuer,
      aud: ctx.server.config.jwt.audience,
      jti: randomUUID(),
      iat: now,
      exp: now + 900,
      ...overrides,
    };
    for (const key of Object.keys(base)) if (base[key] === undefined) delete base[key];
    return base;
  }

  function forge(
    overrides: Record<string, unknown> = {},
    secret: string = TEST_JWT_SECRET,
    algorithm: jwt.Algorithm = "HS256",
  ): string {
    return jwt.sign(claims(overrides), secret, { algorithm, keyid: hmacKid(TEST_JWT_SECRET) });
  }

  /** header.payload.signature built by hand, signed with HMAC-SHA256 unless told otherwise. */
  function handBuilt(header: Record<string, unknown>, payload: Record<string, unknown>): string {
    const signingInput = `${base64url(header)}.${base64url(payload)}`;
    const signature = createHmac("sha256", TEST_JWT_SECRET)
      .update(signingInput)
      .digest("base64url");
    return `${signingInput}.${signature}`;
  }

  const userContentWith = (authorization: string) =>
    ctx.server.execute(UserContentDocument, {}, { headers: { authorization } });

  it("accepts a token forged with the right secret, issuer and audience (the forger works)", async () => {
    const response = await userContentWith(`Bearer ${forge()}`);
    expect(expectData(response).userContent).toBe("User Content.");
  });

  it("rejects a garbage string as TOKEN_INVALID", async () => {
    expectError(await userContentWith("Bearer not-a-jwt"), "UNAUTHENTICATED", "TOKEN_INVALID");
  });

  it("rejects a token signed with the wrong secret as TOKEN_INVALID", async () => {
    const token = forge({}, WRONG_SECRET);
    expectError(await userContentWith(`Bearer ${token}`), "UNAUTHENTICATED", "TOKEN_INVALID");
  });

  it('rejects an unsigned token with alg "none" as TOKEN_INVALID', async () => {
    const token = `${base64url({ alg: "none", typ: "JWT" })}.${base64url(claims())}.`;
    expectError(await userContentWith(`Bearer ${token}`), "UNAUTHENTICATED", "TOKEN_INVALID");
  });

  it('rejects alg "none" even when a signature is appended', async () => {
    const token = handBuilt({ alg: "none", typ: "JWT" }, claims());
    expectError(await userContentWith(`Bearer ${token}`), "UNAUTHENTICATED", "TOKEN_INVALID");
  });

  it("rejects a token signed HS512 with the right secret as TOKEN_INVALID", async () => {
    const token = forge({}, TEST_JWT_SECRET, "HS512");
    expectError(await userContentWith(`Bearer ${token}`), "UNAUTHENTICATED", "TOKEN_INVALID");
  });

  it("rejects an RS256 header over an HMAC signature with the right secret as TOKEN_INVALID", async () => {
    const token = handBuilt({ alg: "RS256", typ: "JWT" }, claims());
    expectError(await userContentWith(`Bearer ${token}`), "UNAUTHENTICATED", "TOKEN_INVALID");
  });

  it("accepts the same hand-built token when its header says HS256 (the hand builder works)", async () => {
    const token = handBuilt({ alg: "HS256", typ: "JWT", kid: hmacKid(TEST_JWT_SECRET) }, claims());
    expect(expectData(await userContentWith(`Bearer ${token}`)).userContent).toBe("User Content.");
  });

  it("rejects a token from another issuer as TOKEN_INVALID", async () => {
    const token = forge({ iss: "someone-else" });
    expectError(await userContentWith(`Bearer ${token}`), "UNAUTHENTICATED", "TOKEN_INVALID");
  });

  it("rejects a token for another audience as TOKEN_INVALID", async () => {
    const token = forge({ aud: "another-api" });
    expectError(await userContentWith(`Bearer ${token}`), "UNAUTHENTICATED", "TOKEN_INVALID");
  });

  it("rejects a token without sub as TOKEN_INVALID", async () => {
    const token = forge({ sub: undefined });
    expectError(await userContentWith(`Bearer ${token}`), "UNAUTHENTICATED", "TOKEN_INVALID");
  });

  it("rejects a token without a roles claim as TOKEN_INVALID", async () => {
    const token = forge({ roles: undefined });
    expectError(await userContentWith(`Bearer ${token}`), "UNAUTHENTICATED", "TOKEN_INVALID");
  });

  it("rejects a token with an unknown role as TOKEN_INVALID", async () => {
    const token = forge({ roles: ["USER", "SUPERUSER"] });
    expectError(await userContentWith(`Bearer ${token}`), "UNAUTHENTICATED", "TOKEN_INVALID");
  });

  it("rejects a real token whose payload was edited to add ADMIN", async () => {
    const [header, payload, signature] = user.accessToken.split(".");
    const decoded = JSON.parse(Buffer.from(payload!, "base64url").toString("utf8")) as {
      roles: string[];
    };
    expect(decoded.roles).toEqual(["USER"]);
    const edited = `${header}.${base64url({ ...decoded, roles: ["USER", "ADMIN"] })}.${signature}`;

    expectError(await userContentWith(`Bearer ${edited}`), "UNAUTHENTICATED", "TOKEN_INVALID");
    expectError(
      await ctx.server.execute(AdminContentDocument, {}, { token: edited }),
      "UNAUTHENTICATED",
      "TOKEN_INVALID",
    );
    // The untouched original still works, so it was the edit that was refused.
    expect(expectData(await userContentWith(`Bearer ${user.accessToken}`)).userContent).toBe(
      "User Content.",
    );
  });

  it("rejects a token issued in the future (iat past the clock skew) as TOKEN_INVALID", async () => {
    const now = Math.floor(Date.now() / 1000);
    const token = forge({ iat: now + 3600, exp: now + 4500 });
    expectError(await userContentWith(`Bearer ${token}`), "UNAUTHENTICATED", "TOKEN_INVALID");
  });

  it("accepts an iat a few seconds ahead (another instance's clock)", async () => {
    const now = Math.floor(Date.now() / 1000);
    const token = forge({ iat: now + 10, exp: now + 910 });
    expect(expectData(await userContentWith(`Bearer ${token}`)).userContent).toBe("User Content.");
  });

  it("rejects a token without a session id (sid) as TOKEN_INVALID", async () => {
    const token = forge({ sid: undefined });
    expectError(await userContentWith(`Bearer ${token}`), "UNAUTHENTICATED", "TOKEN_INVALID");
  });

  it("accepts several spaces after Bearer (RFC 6750: 1*SP)", async () => {
    expect(expectData(await userContentWith(`Bearer   ${user.accessToken}`)).userContent).toBe(
      "User Content.",
    );
  });

  it("reports an expired token signed with the server's secret as TOKEN_EXPIRED", async () => {
    const now = Math.floor(Date.now() / 1000);
    const token = forge({ iat: now - 1000, exp: now - 100 });
    expectError(await userContentWith(`Bearer ${token}`), "UNAUTHENTICATED", "TOKEN_EXPIRED");
  });

  it("reports an expired token signed with the wrong secret as TOKEN_INVALID (signature first)", async () => {
    const now = Math.floor(Date.now() / 1000);
    const token = forge({ iat: now - 1000, exp: now - 100 }, WRONG_SECRET);
    expectError(await userContentWith(`Bearer ${token}`), "UNAUTHENTICATED", "TOKEN_INVALID");
  });

  it("treats an Authorization header that is not a Bearer token as TOKEN_INVALID", async () => {
    expectError(await userContentWith("Basic xyz"), "UNAUTHENTICATED", "TOKEN_INVALID");
    expectError(
      await userContentWith(`Basic ${user.accessToken}`),
      "UNAUTHENTICATED",
      "TOKEN_INVALID",
    );
  });

  it('treats "Bearer" with two tokens as TOKEN_INVALID', async () => {
    expectError(
      await userContentWith(`Bearer ${user.accessToken} ${user.accessToken}`),
      "UNAUTHENTICATED",
      "TOKEN_INVALID",
    );
  });

  it('treats "Bearer" with no token as TOKEN_INVALID', async () => {
    expectError(await userContentWith("Bearer"), "UNAUTHENTICATED", "TOKEN_INVALID");
  });

  it('accepts the scheme in lower case: "bearer <token>"', async () => {
    const response = await userContentWith(`bearer ${user.accessToken}`);
    expect(expectData(response).userContent).toBe("User Content.");
  });

  it("still serves publicContent to a request with a bad token", async () => {
    for (const authorization of ["Bearer not-a-jwt", `Bearer ${forge({}, WRONG_SECRET)}`]) {
      const response = await ctx.server.execute(
        PublicContentDocument,
        {},
        { headers: { authorization } },
      );
      expect(response.errors).toBeUndefined();
      expect(expectData(response).publicContent).toBe("Public Content.");
    }
  });

  it("issues HS256 tokens with sub, roles, iss, aud, iat, exp and jti, living ACCESS_TOKEN_TTL", () => {
    const decoded = jwt.decode(user.accessToken, { complete: true });
    expect(decoded).not.toBeNull();
    expect(decoded!.header.alg).toBe("HS256");
    const payload = decoded!.payload as jwt.JwtPayload;
    expect(payload.sub).toBe(user.user.id);
    expect(payload.roles).toEqual(["USER"]);
    expect(payload.iss).toBe(ctx.server.config.jwt.issuer);
    expect(payload.aud).toBe(ctx.server.config.jwt.audience);
    expect(typeof payload.iat).toBe("number");
    expect(typeof payload.exp).toBe("number");
    expect(typeof payload.jti).toBe("string");
    expect(payload.jti!.length).toBeGreaterThan(0);
    expect(ctx.server.config.accessTokenTtlSeconds).toBe(900);
    expect(payload.exp! - payload.iat!).toBe(900);
    expect(new Date(user.accessTokenExpiresAt).getTime()).toBe(payload.exp! * 1000);
  });
});
