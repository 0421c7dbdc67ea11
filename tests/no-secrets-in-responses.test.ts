import {
  AdminContentDocument,
  MeDocument,
  RefreshTokenDocument,
  SetUserRolesDocument,
  SigninDocument,
  SignoutDocument,
  SignupDocument,
  UserContentDocument,
} from "./generated/graphql";
import { ADMIN, expectData, expectError, inBody, newAccount, useTestServer } from "./setup/kit";
import type { GraphQLResponse } from "./setup/test-server";

const BCRYPT_HASH = /\$2[aby]\$\d\d\$/;
/** What a leaked stack frame looks like: "file.ts:12:34". */
const STACK_FRAME = /\.[cm]?[jt]s:\d+:\d+/;

describe("no secrets in responses", () => {
  const ctx = useTestServer();

  /** Every response body the flow produced, with what the request was, for failure messages. */
  const seen: { label: string; text: string; isError: boolean }[] = [];
  /** Every password sent in the flow, right or wrong. */
  const passwords = new Set<string>([ADMIN.password]);

  function record<T>(label: string, response: GraphQLResponse<T>): GraphQLResponse<T> {
    seen.push({ label, text: response.text, isError: (response.errors?.length ?? 0) > 0 });
    return response;
  }

  async function postRaw(label: string, body: string) {
    const response = await ctx.server.post(body);
    const text = await response.text();
    seen.push({ label, text, isError: /"errors"\s*:/.test(text) });
    return { status: response.status, text };
  }

  beforeAll(async () => {
    const server = ctx.server;
    const account = newAccount("secretive");
    passwords.add(account.password);

    record("signup", await server.execute(SignupDocument, { input: account }));
    const signedIn = inBody(
      expectData(
        record(
          "signin",
          await server.execute(SigninDocument, {
            input: { username: account.username, password: account.password },
          }),
        ),
      ).signin,
    );
    record("me", await server.execute(MeDocument, {}, { token: signedIn.accessToken }));
    const refreshed = inBody(
      expectData(
        record(
          "refreshToken",
          await server.execute(RefreshTokenDocument, { refreshToken: signedIn.refreshToken }),
        ),
      ).refreshToken,
    );

    const admin = expectData(
      record(
        "admin signin",
        await server.execute(SigninDocument, {
          input: { username: ADMIN.username, password: ADMIN.password },
        }),
      ),
    ).signin;
    record(
      "setUserRoles",
      await server.execute(
        SetUserRolesDocument,
        { userId: signedIn.user.id, roles: ["USER", "MODERATOR"] },
        { token: admin.accessToken },
      ),
    );
    record(
      "signout",
      await server.execute(SignoutDocument, { refreshToken: refreshed.refreshToken }),
    );

    // Failing calls: each must fail as the contract says, and leak nothing either.
    const wrongPassword = `${account.password}-wrong`;
    passwords.add(wrongPassword);
    expectError(
      record(
        "wrong password",
        await server.execute(SigninDocument, {
          input: { username: account.username, password: wrongPassword },
        }),
      ),
      "UNAUTHENTICATED",
      "INVALID_CREDENTIALS",
    );
    const duplicate = { ...newAccount("dup"), username: account.username };
    passwords.add(duplicate.password);
    expectError(
      record("duplicate signup", await server.execute(SignupDocument, { input: duplicate })),
      "BAD_USER_INPUT",
      "USERNAME_TAKEN",
    );
    const duplicateEmail = { ...newAccount("dup"), email: account.email.toUpperCase() };
    passwords.add(duplicateEmail.password);
    expectError(
      record("duplicate email", await server.execute(SignupDocument, { input: duplicateEmail })),
      "BAD_USER_INPUT",
      "EMAIL_TAKEN",
    );
    const tooLong = { ...newAccount("long"), password: `long-${"x".repeat(80)}` };
    passwords.add(tooLong.password);
    expectError(
      record("password too long", await server.execute(SignupDocument, { input: tooLong })),
      "BAD_USER_INPUT",
    );
    expectError(
      record(
        "refresh token of a signed-out session",
        await server.execute(RefreshTokenDocument, { refreshToken: refreshed.refreshToken }),
      ),
      "UNAUTHENTICATED",
      "REFRESH_TOKEN_INVALID",
    );
    expectError(
      record(
        "forbidden",
        await server.execute(AdminContentDocument, {}, { token: signedIn.accessToken }),
      ),
      "FORBIDDEN",
    );
    expectError(
      record("bad token", await server.execute(UserContentDocument, {}, { token: "garbage" })),
      "UNAUTHENTICATED",
      "TOKEN_INVALID",
    );
    await postRaw("syntax error", JSON.stringify({ query: "{ userContent " }));
    // graphql-js suggests similar field names ("Did you mean ...?"): a hidden passwordHash
    // field would show up here.
    await postRaw("unknown field", JSON.stringify({ query: "{ me { password } }" }));
    await postRaw("unknown query field", JSON.stringify({ query: "{ nope }" }));
    await postRaw("invalid JSON", "{ not json");
    expectError(
      record(
        "bad setUserRoles id",
        await server.execute(
          SetUserRolesDocument,
          { userId: "not-an-id", roles: ["USER"] },
          { token: admin.accessToken },
        ),
      ),
      "BAD_USER_INPUT",
    );
  });

  it("ran the whole flow: the successful calls succeeded and the failing ones failed", () => {
    expect(seen.filter((s) => !s.isError).map((s) => s.label)).toEqual([
      "signup",
      "signin",
      "me",
      "refreshToken",
      "admin signin",
      "setUserRoles",
      "signout",
    ]);
    expect(seen.filter((s) => s.isError)).toHaveLength(12);
  });

  it("never returns a bcrypt hash", () => {
    for (const { label, text } of seen) {
      expect({ label, leaked: BCRYPT_HASH.test(text) }).toEqual({ label, leaked: false });
    }
  });

  it('never mentions "passwordHash" in a response', () => {
    for (const { label, text } of seen) {
      expect({ label, leaked: text.includes("passwordHash") }).toEqual({ label, leaked: false });
    }
  });

  it("never echoes a password, right or wrong", () => {
    for (const { label, text } of seen) {
      for (const password of passwords) {
        expect({ label, leaked: text.includes(password) }).toEqual({ label, leaked: false });
      }
    }
  });

  it('never puts a "stacktrace", an exception or a stack frame in an error response', () => {
    const errors = seen.filter((s) => s.isError);
    for (const { label, text } of errors) {
      expect({ label, stacktrace: /stacktrace/i.test(text) }).toEqual({ label, stacktrace: false });
      expect({ label, exception: /exception/i.test(text) }).toEqual({ label, exception: false });
      expect({ label, frame: STACK_FRAME.test(text) }).toEqual({ label, frame: false });
    }
  });

  it("exposes no password field on User through introspection", async () => {
    const response = await ctx.server.post(
      JSON.stringify({ query: '{ __type(name: "User") { fields { name } } }' }),
    );
    expect(response.status).toBe(200);
    const body = (await response.json()) as {
      data: { __type: { fields: { name: string }[] } | null };
    };
    const fields = body.data.__type!.fields.map((f) => f.name).sort();
    expect(fields).toEqual([
      "createdAt",
      "disabled",
      "disabledReason",
      "email",
      "emailVerified",
      "emailVerifiedAt",
      "id",
      "lastSigninAt",
      "roles",
      "sessions",
      "username",
    ]);
    expect(fields.filter((name) => /password|hash/i.test(name))).toEqual([]);
  });

  it("has no output field anywhere in the schema that could carry a password or its hash", async () => {
    const response = await ctx.server.post(
      JSON.stringify({ query: "{ __schema { types { name fields { name } } } }" }),
    );
    const body = (await response.json()) as {
      data: { __schema: { types: { name: string; fields: { name: string }[] | null }[] } };
    };
    // Mutations named after the password they take (resetPassword, changePassword) answer
    // with Boolean or AuthPayload, whose fields are checked here like every other type's.
    const suspicious = body.data.__schema.types
      .filter((type) => type.name !== "Mutation")
      .flatMap((type) =>
        (type.fields ?? [])
          .filter((field) => /password|hash/i.test(field.name))
          .map((field) => `${type.name}.${field.name}`),
      );
    expect(suspicious).toEqual([]);
  });
});
