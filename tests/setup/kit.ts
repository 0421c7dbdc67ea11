import { randomBytes } from "node:crypto";
import type { GraphQLFormattedError } from "graphql";
import {
  SetUserRolesDocument,
  SigninDocument,
  SignupDocument,
  type AuthPayloadFieldsFragment,
  type Role,
} from "../generated/graphql";
import { connectTestDatabase, disconnectTestDatabase } from "./database";
import type { ServiceOptions } from "../../src/services/services";
import { startTestServer, type GraphQLResponse, type TestServer } from "./test-server";

export const ADMIN = {
  username: "root_admin",
  email: "root@example.com",
  password: "correct horse battery staple",
};

/**
 * Gives a test file its own database and one server instance (with an initial admin),
 * started before its tests and stopped after them.
 */
export function useTestServer(
  env: Record<string, string> = {},
  options: ServiceOptions = {},
): { readonly server: TestServer } {
  const holder: { server?: TestServer } = {};
  beforeAll(async () => {
    await connectTestDatabase();
    holder.server = await startTestServer(
      {
        ADMIN_USERNAME: ADMIN.username,
        ADMIN_EMAIL: ADMIN.email,
        ADMIN_PASSWORD: ADMIN.password,
        ...env,
      },
      options,
    );
  });
  afterAll(async () => {
    await holder.server?.close();
    await disconnectTestDatabase();
  });
  return {
    get server(): TestServer {
      if (!holder.server) throw new Error("the test server is not started yet");
      return holder.server;
    },
  };
}

export function uniqueName(prefix = "user"): string {
  return `${prefix}_${randomBytes(4).toString("hex")}`;
}

export function newAccount(prefix = "user") {
  const username = uniqueName(prefix);
  return {
    username,
    email: `${username}@example.com`,
    password: `pw-${randomBytes(6).toString("hex")}`,
  };
}

/** Fails with the GraphQL errors in the message, so a broken setup step says why. */
export function expectData<T>(response: GraphQLResponse<T>): T {
  if (response.errors?.length || response.data === undefined || response.data === null) {
    throw new Error(`expected data, got ${response.status}: ${response.text}`);
  }
  return response.data;
}

/** The single error of a response, for asserting code and reason. */
export function onlyError(response: GraphQLResponse<unknown>): GraphQLFormattedError {
  expect(response.errors).toHaveLength(1);
  return response.errors![0]!;
}

export function expectError(
  response: GraphQLResponse<unknown>,
  code: string,
  reason?: string,
): GraphQLFormattedError {
  const error = onlyError(response);
  expect(error.extensions?.code).toBe(code);
  if (reason !== undefined) expect(error.extensions?.reason).toBe(reason);
  return error;
}

/** An AuthPayload from the body transport, where the refresh token is always in the body. */
export type BodyAuthPayload = AuthPayloadFieldsFragment & { refreshToken: string };

export function inBody(payload: AuthPayloadFieldsFragment): BodyAuthPayload {
  const { refreshToken } = payload;
  if (typeof refreshToken !== "string") throw new Error("expected the refresh token in the body");
  return { ...payload, refreshToken };
}

export async function signin(
  server: TestServer,
  username: string,
  password: string,
): Promise<BodyAuthPayload> {
  return inBody(
    expectData(await server.execute(SigninDocument, { input: { username, password } })).signin,
  );
}

export async function signinAsAdmin(server: TestServer): Promise<BodyAuthPayload> {
  return signin(server, ADMIN.username, ADMIN.password);
}

/** Creates an account (with roles, through the admin when asked) and signs it in. */
export async function createSignedInUser(
  server: TestServer,
  roles?: Role[],
): Promise<BodyAuthPayload & { password: string }> {
  const account = newAccount();
  expectData(await server.execute(SignupDocument, { input: account }));
  if (roles) {
    const admin = await signinAsAdmin(server);
    const me = await signin(server, account.username, account.password);
    expectData(
      await server.execute(
        SetUserRolesDocument,
        { userId: me.user.id, roles },
        { token: admin.accessToken },
      ),
    );
  }
  return {
    ...(await signin(server, account.username, account.password)),
    password: account.password,
  };
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
