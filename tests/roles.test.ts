import type { TypedDocumentNode } from "@graphql-typed-document-node/core";
import {
  AdminContentDocument,
  MeDocument,
  ModContentDocument,
  PublicContentDocument,
  RefreshTokenDocument,
  SetUserRolesDocument,
  UserContentDocument,
  type Role,
} from "./generated/graphql";
import {
  createSignedInUser,
  expectData,
  expectError,
  signin,
  signinAsAdmin,
  useTestServer,
} from "./setup/kit";

type Caller = "anonymous" | "USER" | "MODERATOR" | "ADMIN";
type ContentField = "publicContent" | "userContent" | "modContent" | "adminContent";

const CONTENT_DOCUMENTS: Record<
  ContentField,
  TypedDocumentNode<Partial<Record<ContentField, string>>, Record<string, never>>
> = {
  publicContent: PublicContentDocument,
  userContent: UserContentDocument,
  modContent: ModContentDocument,
  adminContent: AdminContentDocument,
};

const PUBLIC = { value: "Public Content." };
const USER = { value: "User Content." };
const MOD = { value: "Moderator Content." };
const ADMIN = { value: "Admin Content." };
const UNAUTHENTICATED = { code: "UNAUTHENTICATED" };
const FORBIDDEN = { code: "FORBIDDEN" };

const ROLE_TABLE: [Caller, ContentField, { value: string } | { code: string }][] = [
  ["anonymous", "publicContent", PUBLIC],
  ["anonymous", "userContent", UNAUTHENTICATED],
  ["anonymous", "modContent", UNAUTHENTICATED],
  ["anonymous", "adminContent", UNAUTHENTICATED],
  ["USER", "publicContent", PUBLIC],
  ["USER", "userContent", USER],
  ["USER", "modContent", FORBIDDEN],
  ["USER", "adminContent", FORBIDDEN],
  ["MODERATOR", "publicContent", PUBLIC],
  ["MODERATOR", "userContent", USER],
  ["MODERATOR", "modContent", MOD],
  ["MODERATOR", "adminContent", FORBIDDEN],
  ["ADMIN", "publicContent", PUBLIC],
  ["ADMIN", "userContent", USER],
  ["ADMIN", "modContent", FORBIDDEN],
  ["ADMIN", "adminContent", ADMIN],
];

const ROLES_OF: Record<Exclude<Caller, "anonymous">, Role[]> = {
  USER: ["USER"],
  MODERATOR: ["USER", "MODERATOR"],
  ADMIN: ["USER", "ADMIN"],
};

describe("roles", () => {
  const ctx = useTestServer();
  const tokens: Partial<Record<Caller, string>> = {};

  beforeAll(async () => {
    for (const caller of ["USER", "MODERATOR", "ADMIN"] as const) {
      tokens[caller] = (await createSignedInUser(ctx.server, ROLES_OF[caller])).accessToken;
    }
  });

  describe("content queries", () => {
    const rows = ROLE_TABLE.map(
      ([caller, field, expected]) =>
        [
          caller,
          field,
          "value" in expected ? `"${expected.value}"` : expected.code,
          expected,
        ] as const,
    );
    it.each(rows)("%s asking for %s gets %s", async (caller, field, _label, expected) => {
      const response = await ctx.server.execute(CONTENT_DOCUMENTS[field], undefined, {
        token: tokens[caller],
      });
      if ("value" in expected) {
        expect(expectData(response)[field]).toBe(expected.value);
      } else {
        const error = expectError(response, expected.code);
        // A missing token or role says nothing more than its code.
        expect(error.extensions?.reason).toBeUndefined();
        expect(response.data).toBeNull();
      }
    });
  });

  describe("me", () => {
    it("is null without a token", async () => {
      expect(expectData(await ctx.server.execute(MeDocument)).me).toBeNull();
    });

    it("is the signed-in user with a valid token", async () => {
      const user = await createSignedInUser(ctx.server);
      const me = expectData(
        await ctx.server.execute(MeDocument, {}, { token: user.accessToken }),
      ).me;
      expect(me).toEqual({
        id: user.user.id,
        username: user.user.username,
        email: user.user.email,
        roles: ["USER"],
        createdAt: user.user.createdAt,
      });
      expect(new Date(me!.createdAt).toISOString()).toBe(me!.createdAt);
    });

    it("is UNAUTHENTICATED / TOKEN_INVALID with a garbage bearer token", async () => {
      const response = await ctx.server.execute(MeDocument, {}, { token: "not-a-jwt" });
      expectError(response, "UNAUTHENTICATED", "TOKEN_INVALID");
      expect(response.data?.me ?? null).toBeNull();
    });
  });

  describe("setUserRoles", () => {
    const setUserRoles = (userId: string, roles: Role[], token?: string) =>
      ctx.server.execute(SetUserRolesDocument, { userId, roles }, { token });

    it("lets an ADMIN make a user MODERATOR, seen in a fresh signin", async () => {
      const admin = await signinAsAdmin(ctx.server);
      const user = await createSignedInUser(ctx.server);
      const updated = await setUserRoles(user.user.id, ["MODERATOR"], admin.accessToken);
      expect(expectData(updated).setUserRoles).toMatchObject({
        id: user.user.id,
        roles: ["MODERATOR"],
      });

      const fresh = await signin(ctx.server, user.user.username, user.password);
      expect(fresh.user.roles).toEqual(["MODERATOR"]);
      const mod = await ctx.server.execute(ModContentDocument, {}, { token: fresh.accessToken });
      expect(expectData(mod).modContent).toBe("Moderator Content.");
    });

    it("leaves the old access token with the old roles until it is refreshed", async () => {
      const admin = await signinAsAdmin(ctx.server);
      const user = await createSignedInUser(ctx.server);
      expectData(await setUserRoles(user.user.id, ["MODERATOR"], admin.accessToken));

      const old = await ctx.server.execute(ModContentDocument, {}, { token: user.accessToken });
      expectError(old, "FORBIDDEN");

      const refreshed = expectData(
        await ctx.server.execute(RefreshTokenDocument, { refreshToken: user.refreshToken }),
      ).refreshToken;
      expect(refreshed.user.roles).toEqual(["MODERATOR"]);
      const mod = await ctx.server.execute(
        ModContentDocument,
        {},
        { token: refreshed.accessToken },
      );
      expect(expectData(mod).modContent).toBe("Moderator Content.");
    });

    it.each(["USER", "MODERATOR"] as const)(
      "is FORBIDDEN to a %s and changes nothing",
      async (caller) => {
        const target = await createSignedInUser(ctx.server);
        const response = await setUserRoles(target.user.id, ["ADMIN"], tokens[caller]);
        expectError(response, "FORBIDDEN");
        expect(response.data).toBeNull();
        const after = await signin(ctx.server, target.user.username, target.password);
        expect(after.user.roles).toEqual(["USER"]);
      },
    );

    it("is UNAUTHENTICATED to an anonymous caller", async () => {
      const target = await createSignedInUser(ctx.server);
      const response = await setUserRoles(target.user.id, ["ADMIN"]);
      const error = expectError(response, "UNAUTHENTICATED");
      expect(error.extensions?.reason).toBeUndefined();
    });

    it("answers NOT_FOUND for a well-formed id no user has", async () => {
      const admin = await signinAsAdmin(ctx.server);
      const response = await setUserRoles("0123456789abcdef01234567", ["USER"], admin.accessToken);
      expectError(response, "NOT_FOUND");
    });

    it("refuses a malformed userId with BAD_USER_INPUT on field userId", async () => {
      const admin = await signinAsAdmin(ctx.server);
      const response = await setUserRoles("abc", ["USER"], admin.accessToken);
      const error = expectError(response, "BAD_USER_INPUT");
      expect(error.extensions?.field).toBe("userId");
    });

    it("refuses an empty roles list with BAD_USER_INPUT on field roles", async () => {
      const admin = await signinAsAdmin(ctx.server);
      const target = await createSignedInUser(ctx.server);
      const response = await setUserRoles(target.user.id, [], admin.accessToken);
      const error = expectError(response, "BAD_USER_INPUT");
      expect(error.extensions?.field).toBe("roles");
      const after = await signin(ctx.server, target.user.username, target.password);
      expect(after.user.roles).toEqual(["USER"]);
    });

    it("refuses the same removal when the admin's own id is written in upper case", async () => {
      const admin = await createSignedInUser(ctx.server, ["USER", "ADMIN"]);
      const response = await setUserRoles(admin.user.id.toUpperCase(), ["USER"], admin.accessToken);
      expectError(response, "BAD_USER_INPUT", "CANNOT_REMOVE_OWN_ADMIN");
      const after = await signin(ctx.server, admin.user.username, admin.password);
      expect(after.user.roles).toEqual(["USER", "ADMIN"]);
    });

    it("treats an id in upper case as the same user", async () => {
      const admin = await signinAsAdmin(ctx.server);
      const target = await createSignedInUser(ctx.server);
      const changed = expectData(
        await setUserRoles(target.user.id.toUpperCase(), ["USER", "MODERATOR"], admin.accessToken),
      ).setUserRoles;
      expect(changed.id).toBe(target.user.id);
      expect(changed.roles).toEqual(["USER", "MODERATOR"]);
    });

    it("refuses an admin removing their own ADMIN role (CANNOT_REMOVE_OWN_ADMIN)", async () => {
      const admin = await createSignedInUser(ctx.server, ["USER", "ADMIN"]);
      const response = await setUserRoles(admin.user.id, ["USER"], admin.accessToken);
      const error = expectError(response, "BAD_USER_INPUT", "CANNOT_REMOVE_OWN_ADMIN");
      expect(error.extensions?.field).toBe("roles");
      const after = await signin(ctx.server, admin.user.username, admin.password);
      expect(after.user.roles).toEqual(["USER", "ADMIN"]);
    });
  });
});
