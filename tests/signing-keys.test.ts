import { generateKeyPairSync } from "node:crypto";
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  decodeProtectedHeader,
  jwtVerify,
  type JSONWebKeySet,
} from "jose";
import jwt from "jsonwebtoken";
import mongoose from "mongoose";
import { startResourceServer } from "../examples/resource-server/src/resource-server";
import { UserContentDocument } from "./generated/graphql";
import { ManualClock } from "./setup/clock";
import {
  createSignedInUser,
  expectData,
  expectError,
  signinAsAdmin,
  useTestServer,
} from "./setup/kit";
import { startTestServer, type TestServer } from "./setup/test-server";

const ISSUER = "graphql-jwt-auth";
const AUDIENCE = "graphql-jwt-auth";
/** One hour per key: a new key is published 15 minutes before its hour starts. */
const ROTATION = 3600;
const TTL = 900;

/** Managed asymmetric keys: the tests' JWT_SECRET is taken away so HS256 is not the default. */
const ES256 = { JWT_SECRET: "", JWT_KEY_ROTATION: String(ROTATION), ACCESS_TOKEN_TTL: String(TTL) };

async function jwksOf(server: TestServer): Promise<{ body: JSONWebKeySet; cacheControl: string }> {
  const response = await fetch(`${server.origin}/.well-known/jwks.json`);
  expect(response.status).toBe(200);
  return {
    body: (await response.json()) as JSONWebKeySet,
    cacheControl: response.headers.get("cache-control") ?? "",
  };
}

/** What an independent verifier says of a token, against the server's JWKS as it is now. */
async function verifiedByJose(server: TestServer, token: string, at?: Date) {
  const { body } = await jwksOf(server);
  return jwtVerify(token, createLocalJWKSet(body), {
    issuer: ISSUER,
    audience: AUDIENCE,
    ...(at ? { currentDate: at } : {}),
  });
}

const kidOf = (token: string) => decodeProtectedHeader(token).kid;

describe("tokens other services verify through the JWKS", () => {
  const clock = new ManualClock();
  const ctx = useTestServer({ ...ES256, JWT_KEY_ENCRYPTION_SECRET: "k".repeat(40) }, { clock });
  const rotate = () => ctx.server.app.background.runUntilDone("signing-keys");

  it("signs with a managed ES256 key named by kid, and jose verifies it through the JWKS URL", async () => {
    const user = await createSignedInUser(ctx.server);
    const header = decodeProtectedHeader(user.accessToken);
    expect(header.alg).toBe("ES256");
    expect(typeof header.kid).toBe("string");

    const remote = createRemoteJWKSet(new URL(`${ctx.server.origin}/.well-known/jwks.json`));
    const { payload } = await jwtVerify(user.accessToken, remote, {
      issuer: ISSUER,
      audience: AUDIENCE,
    });
    expect(payload).toMatchObject({ sub: user.user.id, roles: ["USER"], sid: user.sessionId });
  });

  it("publishes public keys only, cacheable for less than a key is published ahead", async () => {
    const { body, cacheControl } = await jwksOf(ctx.server);
    expect(body.keys.length).toBeGreaterThan(0);
    for (const key of body.keys) {
      expect(key).toMatchObject({ kty: "EC", crv: "P-256", alg: "ES256", use: "sig" });
      expect(key).not.toHaveProperty("d");
    }
    const maxAge = Number(/max-age=(\d+)/.exec(cacheControl)?.[1]);
    expect(maxAge).toBeGreaterThan(0);
    expect(maxAge).toBeLessThan(ROTATION / 4);
  });

  it("serves an OpenID discovery document naming the issuer and the JWKS URL", async () => {
    const response = await fetch(`${ctx.server.origin}/.well-known/openid-configuration`);
    const document = (await response.json()) as { issuer: string; jwks_uri: string };
    expect(document.issuer).toBe(ISSUER);
    expect(document.jwks_uri).toBe(`${ctx.server.origin}/.well-known/jwks.json`);
  });

  it("stores private keys encrypted, never as PEM", async () => {
    const keys = await mongoose.connection.db!.collection("signing_keys").find().toArray();
    expect(keys.length).toBeGreaterThan(0);
    for (const key of keys) {
      expect(key.privateKey.encryption).toBe("aes-256-gcm");
      expect(JSON.stringify(key)).not.toMatch(/PRIVATE KEY/);
    }
  });

  it("rotates: the next key is published before it signs; old tokens verify until they expire, then their key is dropped", async () => {
    const before = await createSignedInUser(ctx.server);
    const oldKid = kidOf(before.accessToken);
    const slotStart = Math.floor(clock.nowMs() / (ROTATION * 1000) + 1) * ROTATION * 1000;

    // A minute before the next slot: its key is in the JWKS, but the old one still signs.
    clock.advance((slotStart - clock.nowMs()) / 1000 - 60);
    await rotate();
    const published = (await jwksOf(ctx.server)).body.keys.map((k) => k.kid);
    const stillOld = await createSignedInUser(ctx.server);
    expect(kidOf(stillOld.accessToken)).toBe(oldKid);
    expect(published).toContain(oldKid);
    expect(published.length).toBe(2);
    const nextKid = published.find((kid) => kid !== oldKid)!;

    // The slot starts: new tokens use the new key, old ones still verify here and by jose.
    clock.advance(120);
    await rotate();
    const after = await createSignedInUser(ctx.server);
    expect(kidOf(after.accessToken)).toBe(nextKid);
    for (const token of [stillOld.accessToken, after.accessToken]) {
      await verifiedByJose(ctx.server, token, new Date(clock.nowMs()));
      expectData(await ctx.server.execute(UserContentDocument, {}, { token }));
    }

    // Past the old key's last token's expiry: the key is gone, its tokens fail everywhere.
    clock.advance(ROTATION);
    await rotate();
    const current = (await jwksOf(ctx.server)).body.keys.map((k) => k.kid);
    expect(current).not.toContain(oldKid);
    await expect(
      verifiedByJose(ctx.server, stillOld.accessToken, new Date(clock.nowMs() - ROTATION * 1000)),
    ).rejects.toThrow();
  });

  it("refuses a token signed by a key that is not in its JWKS, and HS256 tokens", async () => {
    const user = await createSignedInUser(ctx.server);
    const claims = jwt.decode(user.accessToken) as Record<string, unknown>;
    const stranger = generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey;
    const forgedKid = jwt.sign({ ...claims, roles: ["ADMIN"] }, stranger, {
      algorithm: "ES256",
      keyid: kidOf(user.accessToken),
    });
    const unknownKid = jwt.sign(claims, stranger, { algorithm: "ES256", keyid: "attacker-key" });
    const hs256 = jwt.sign(claims, "a shared secret that is long enough to be accepted", {
      algorithm: "HS256",
      keyid: kidOf(user.accessToken),
    });
    for (const token of [forgedKid, unknownKid, hs256]) {
      expectError(
        await ctx.server.execute(UserContentDocument, {}, { token }),
        "UNAUTHENTICATED",
        "TOKEN_INVALID",
      );
      await expect(verifiedByJose(ctx.server, token)).rejects.toThrow();
    }
  });

  it("a resource server that holds only the JWKS URL serves a role-gated field", async () => {
    const resource = await startResourceServer({
      jwksUrl: `${ctx.server.origin}/.well-known/jwks.json`,
      issuer: ISSUER,
      audience: AUDIENCE,
    });
    try {
      const ask = async (query: string, token?: string) => {
        const response = await fetch(resource.url, {
          method: "POST",
          headers: {
            "content-type": "application/json",
            ...(token ? { authorization: `Bearer ${token}` } : {}),
          },
          body: JSON.stringify({ query }),
        });
        return (await response.json()) as {
          data?: Record<string, string> | null;
          errors?: { extensions?: { code?: string } }[];
        };
      };
      const user = await createSignedInUser(ctx.server);
      const admin = await signinAsAdmin(ctx.server);
      expect((await ask("{ whoAmI }", user.accessToken)).data?.whoAmI).toBe(user.user.id);
      expect(
        (await ask("{ quarterlyReport }", user.accessToken)).errors?.[0]?.extensions?.code,
      ).toBe("FORBIDDEN");
      expect((await ask("{ quarterlyReport }", admin.accessToken)).data?.quarterlyReport).toBe(
        "Q4: all green.",
      );
      expect((await ask("{ whoAmI }")).errors?.[0]?.extensions?.code).toBe("UNAUTHENTICATED");
    } finally {
      await resource.stop();
    }
  });

  it("two instances sign with the same active key and verify each other's tokens across a rotation", async () => {
    const other = await startTestServer(
      { ...ES256, JWT_KEY_ENCRYPTION_SECRET: "k".repeat(40) },
      { clock },
    );
    try {
      // The second instance never runs the rotation job (one leader does), and its periodic
      // reload does not follow a moved clock: it learns of new keys from the slot and the kid.
      for (let step = 0; step < 4; step++) {
        const a = await createSignedInUser(ctx.server);
        // Verified before the other instance signs anything: a kid it may not have loaded.
        expectData(await other.execute(UserContentDocument, {}, { token: a.accessToken }));
        const b = await createSignedInUser(other);
        expect(kidOf(a.accessToken)).toBe(kidOf(b.accessToken));
        expectData(await ctx.server.execute(UserContentDocument, {}, { token: b.accessToken }));
        clock.advance(ROTATION);
        await rotate();
      }
    } finally {
      await other.close();
    }
  });
});

describe("other key setups", () => {
  const ctx = useTestServer();

  it("an HS256 server refuses ES256 tokens, and publishes no key", async () => {
    const es256 = await startTestServer(ES256);
    try {
      const token = (await createSignedInUser(es256)).accessToken;
      expectError(
        await ctx.server.execute(UserContentDocument, {}, { token }),
        "UNAUTHENTICATED",
        "TOKEN_INVALID",
      );
      expect((await jwksOf(ctx.server)).body.keys).toEqual([]);
    } finally {
      await es256.close();
    }
  });

  it("JWT_PRIVATE_KEY: signs with the given RS256 key, named by its RFC 7638 thumbprint", async () => {
    const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
    const pem = privateKey.export({ format: "pem", type: "pkcs8" }).toString();
    const given = await startTestServer({
      JWT_SECRET: "",
      JWT_ALGORITHM: "RS256",
      JWT_PRIVATE_KEY: pem,
    });
    try {
      const user = await createSignedInUser(given);
      expect(decodeProtectedHeader(user.accessToken).alg).toBe("RS256");
      const { body } = await jwksOf(given);
      expect(body.keys).toHaveLength(1);
      expect(body.keys[0]!.kid).toBe(kidOf(user.accessToken));
      expect(body.keys[0]!.kid).toMatch(/^[A-Za-z0-9_-]{43}$/);
      await verifiedByJose(given, user.accessToken);
    } finally {
      await given.close();
    }
  });

  it("JWT_CLAIMS_PRESET=hasura adds Hasura's claims, and no custom claim replaces a registered one", async () => {
    const hasura = await startTestServer({ ...ES256, JWT_CLAIMS_PRESET: "hasura" });
    try {
      const user = await createSignedInUser(hasura, ["USER", "MODERATOR"]);
      const { payload } = await verifiedByJose(hasura, user.accessToken);
      expect(payload["https://hasura.io/jwt/claims"]).toEqual({
        "x-hasura-allowed-roles": ["user", "moderator"],
        "x-hasura-default-role": "user",
        "x-hasura-user-id": user.user.id,
      });
      expect(payload).toMatchObject({ sub: user.user.id, roles: ["USER", "MODERATOR"] });
    } finally {
      await hasura.close();
    }
  });
});
