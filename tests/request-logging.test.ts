import { randomBytes } from "node:crypto";
import {
  MeDocument,
  PublicContentDocument,
  RefreshTokenDocument,
  SigninDocument,
  SignoutDocument,
  SignupDocument,
  UserContentDocument,
} from "./generated/graphql";
import { ADMIN, expectData, expectError, newAccount, sleep, useTestServer } from "./setup/kit";
import type { GraphQLResponse, TestServer } from "./setup/test-server";

interface RequestLogLine {
  level: number;
  msg: string;
  requestId: string;
  operationName: string | null;
  durationMs: number;
  userId: string | null;
  clientIp: string;
  errorCodes: string[];
  status: number;
}

/** What the test sent and what the request's log line must say. */
interface Sent {
  label: string;
  requestId: string;
  operationName: string | null;
  /** undefined: not asserted (signin and refresh, where the caller has no token yet). */
  userId?: string | null;
  errorCodes: string[];
}

const parse = (line: string) => JSON.parse(line) as Record<string, unknown>;

/** Log lines are written as the response goes out; give the sink a moment to catch up. */
async function requestLines(server: TestServer, count: number): Promise<RequestLogLine[]> {
  const read = () =>
    server.logs.map(parse).filter((line) => line.msg === "graphql request") as unknown[];
  for (let waited = 0; read().length < count && waited < 1_000; waited += 20) await sleep(20);
  return read() as RequestLogLine[];
}

describe("request logging", () => {
  const ctx = useTestServer();

  /** Every secret the flow sends or receives: none may appear in any log line. */
  const secrets = new Map<string, string>();
  const sent: Sent[] = [];
  let requestLinesBefore = 0;

  function remember<T>(
    label: string,
    response: GraphQLResponse<T>,
    expected: Omit<Sent, "label" | "requestId">,
  ): GraphQLResponse<T> {
    const requestId = response.headers.get("x-request-id");
    if (!requestId) throw new Error(`${label}: the response has no x-request-id header`);
    sent.push({ label, requestId, ...expected });
    return response;
  }

  function secret(label: string, value: string | null | undefined): string {
    if (!value) throw new Error(`${label}: expected a value`);
    secrets.set(label, value);
    // A JWT's signature alone is enough to be a leak worth catching.
    const parts = value.split(".");
    if (parts.length === 3 && parts[2]) secrets.set(`${label} (signature)`, parts[2]);
    return value;
  }

  beforeAll(async () => {
    const server = ctx.server;
    requestLinesBefore = (await requestLines(server, 0)).length;
    const account = newAccount("logged");
    secret("password", account.password);
    secret("admin password", ADMIN.password);

    const signedUp = expectData(
      remember("signup", await server.execute(SignupDocument, { input: account }), {
        operationName: "Signup",
        userId: null,
        errorCodes: [],
      }),
    ).signup;

    const signedIn = expectData(
      remember(
        "signin",
        await server.execute(SigninDocument, {
          input: { username: account.username, password: account.password },
        }),
        // The caller had no token yet: the id comes from the signin itself.
        { operationName: "Signin", userId: signedUp.id, errorCodes: [] },
      ),
    ).signin;
    const accessToken = secret("access token", signedIn.accessToken);
    const refreshToken = secret("refresh token", signedIn.refreshToken);
    secret("authorization header", `Bearer ${accessToken}`);

    remember("me", await server.execute(MeDocument, {}, { token: accessToken }), {
      operationName: "Me",
      userId: signedUp.id,
      errorCodes: [],
    });

    const refreshed = expectData(
      remember("refreshToken", await server.execute(RefreshTokenDocument, { refreshToken }), {
        operationName: "RefreshToken",
        userId: signedUp.id,
        errorCodes: [],
      }),
    ).refreshToken;
    const newAccessToken = secret("refreshed access token", refreshed.accessToken);
    const newRefreshToken = secret("refreshed refresh token", refreshed.refreshToken);

    const wrongPassword = secret("wrong password", `wrong-${randomBytes(8).toString("hex")}`);
    expectError(
      remember(
        "wrong password",
        await server.execute(SigninDocument, {
          input: { username: account.username, password: wrongPassword },
        }),
        { operationName: "Signin", userId: null, errorCodes: ["UNAUTHENTICATED"] },
      ),
      "UNAUTHENTICATED",
      "INVALID_CREDENTIALS",
    );

    const badToken = secret("bad token", `${newAccessToken.slice(0, -6)}AAAAAA`);
    expectError(
      remember("bad token", await server.execute(MeDocument, {}, { token: badToken }), {
        operationName: "Me",
        userId: null,
        errorCodes: ["UNAUTHENTICATED"],
      }),
      "UNAUTHENTICATED",
      "TOKEN_INVALID",
    );

    expect(
      expectData(
        remember(
          "x-access-token",
          await server.execute(MeDocument, {}, { headers: { "x-access-token": newAccessToken } }),
          { operationName: "Me", userId: signedUp.id, errorCodes: [] },
        ),
      ).me?.id,
    ).toBe(signedUp.id);

    const cookie = secret(
      "cookie header",
      `refresh_token=${newRefreshToken}; sid=${randomBytes(16).toString("hex")}`,
    );
    remember(
      "cookie",
      await server.execute(UserContentDocument, {}, { token: newAccessToken, headers: { cookie } }),
      { operationName: "UserContent", userId: signedUp.id, errorCodes: [] },
    );

    remember("anonymous", await server.execute(PublicContentDocument), {
      operationName: "PublicContent",
      userId: null,
      errorCodes: [],
    });

    expect(
      expectData(
        remember(
          "signout",
          await server.execute(SignoutDocument, { refreshToken: newRefreshToken }),
          { operationName: "Signout", userId: null, errorCodes: [] },
        ),
      ).signout,
    ).toBe(true);
  });

  it("writes exactly one 'graphql request' line per GraphQL request", async () => {
    const lines = (await requestLines(ctx.server, requestLinesBefore + sent.length)).slice(
      requestLinesBefore,
    );
    expect(lines).toHaveLength(sent.length);
    expect(lines.map((line) => line.requestId).sort()).toEqual(
      sent.map((request) => request.requestId).sort(),
    );
  });

  it("names the request id, operation, duration, user and error codes of each request", async () => {
    const lines = await requestLines(ctx.server, requestLinesBefore + sent.length);
    for (const request of sent) {
      const line = lines.find((l) => l.requestId === request.requestId);
      expect({ label: request.label, found: line !== undefined }).toEqual({
        label: request.label,
        found: true,
      });
      expect({ label: request.label, level: line!.level }).toEqual({
        label: request.label,
        level: 30,
      });
      expect({ label: request.label, operationName: line!.operationName }).toEqual({
        label: request.label,
        operationName: request.operationName,
      });
      expect({ label: request.label, errorCodes: line!.errorCodes }).toEqual({
        label: request.label,
        errorCodes: request.errorCodes,
      });
      if (request.userId !== undefined) {
        expect({ label: request.label, userId: line!.userId }).toEqual({
          label: request.label,
          userId: request.userId,
        });
      }
      expect(typeof line!.durationMs).toBe("number");
      expect(line!.durationMs).toBeGreaterThanOrEqual(0);
      expect(line!.durationMs).toBeLessThan(10_000);
      expect(line!.clientIp).toBe("127.0.0.1");
      expect(line!.status).toBe(200);
    }
  });

  it("never writes a password, token, Authorization value or cookie to any log line", async () => {
    await requestLines(ctx.server, requestLinesBefore + sent.length);
    expect(ctx.server.logs.length).toBeGreaterThan(sent.length);
    const leaks: string[] = [];
    for (const [label, value] of secrets) {
      for (const line of ctx.server.logs) {
        if (line.includes(value)) leaks.push(`${label} in ${line.slice(0, 200)}`);
      }
    }
    expect(leaks).toEqual([]);
  });
});

describe("requests refused before any operation runs", () => {
  const ctx = useTestServer();

  it("still get one log line, with the request id the client saw", async () => {
    const response = await fetch(ctx.server.url, {
      method: "POST",
      headers: { "content-type": "text/plain" },
      body: JSON.stringify({ query: "{ publicContent }" }),
    });
    expect(response.status).toBe(400);
    const requestId = response.headers.get("x-request-id");
    expect(requestId).toMatch(/^[0-9a-f-]{36}$/);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const line = ctx.server.logs
      .map((text) => JSON.parse(text) as { requestId?: string; msg?: string; status?: number })
      .find((entry) => entry.requestId === requestId);
    expect(line).toMatchObject({ msg: "graphql request refused before execution", status: 400 });
  });
});
