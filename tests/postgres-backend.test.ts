import { promises as fs } from "node:fs";
import os from "node:os";
import path from "node:path";
import {
  RefreshTokenDocument,
  SigninDocument,
  SignoutDocument,
  SignupDocument,
  UserContentDocument,
} from "./generated/graphql";
import { startPostgresCluster, type RunningPostgres } from "../src/db/postgres-cluster";
import { expectData, expectError, inBody, newAccount } from "./setup/kit";
import { killServerProcesses, spawnServer, type ServerProcess } from "./setup/server-process";

/*
 * FerretDB on PostgreSQL, the production option for teams that run PostgreSQL: the real entry
 * point (dist/index.js) started with EMBEDDED_DB_BACKEND=postgres and POSTGRESQL_URL pointing at
 * a private cluster this file starts (initdb and postgres, as the postgres user when run as
 * root). Not skipped when PostgreSQL is missing: .ci/run installs it, and a machine without it
 * gets a failure that says how to install it.
 */

jest.setTimeout(120_000);

describe("the server on FerretDB over PostgreSQL (EMBEDDED_DB_BACKEND=postgres)", () => {
  let folder: string;
  let cluster: RunningPostgres | undefined;
  let server: ServerProcess | undefined;

  beforeAll(async () => {
    folder = await fs.mkdtemp(path.join(os.tmpdir(), "graphql-jwt-auth-pg-"));
    // As root, PostgreSQL runs as the postgres user, who must get through to its cluster.
    await fs.chmod(folder, 0o711);
    cluster = await startPostgresCluster({ dir: path.join(folder, "cluster"), log: () => {} });
    server = await spawnServer({
      cwd: folder,
      readyTimeoutMs: 60_000,
      env: {
        MONGODB_URI: undefined,
        EMBEDDED_DB_BACKEND: "postgres",
        POSTGRESQL_URL: cluster.url,
        // Strict RFC 9700 reuse detection: a replayed token ends its session at once.
        REFRESH_REUSE_GRACE: "0",
      },
    });
    await server.waitForMessage(/^database connected$/, 60_000);
  });

  afterAll(async () => {
    await server?.stop();
    await killServerProcesses();
    await cluster?.stop();
    await fs.rm(folder, { recursive: true, force: true });
  });

  const running = (): ServerProcess => {
    if (!server) throw new Error("the server is not started");
    return server;
  };

  it("says which database it runs on, and never logs the PostgreSQL URL", () => {
    const messages = running().messages();
    expect(messages.some((m) => /^Embedded FerretDB .* \(PostgreSQL\) listening on /.test(m))).toBe(
      true,
    );
    expect(running().lines.join("\n")).not.toContain(cluster!.url);
  });

  it("signup, signin, refresh rotation, reuse detection and signout", async () => {
    const api = running();
    const account = newAccount("pg");
    const created = expectData(await api.execute(SignupDocument, { input: account })).signup;
    expect(created).toMatchObject({ username: account.username, roles: ["USER"] });

    // By username and, through the email claim, by address.
    const first = inBody(
      expectData(
        await api.execute(SigninDocument, {
          input: { username: account.username, password: account.password },
        }),
      ).signin,
    );
    expect(first.user.id).toBe(created.id);
    const byEmail = expectData(
      await api.execute(SigninDocument, {
        input: { username: account.email.toUpperCase(), password: account.password },
      }),
    ).signin;
    expect(byEmail.user.id).toBe(created.id);
    expect(
      expectData(await api.execute(UserContentDocument, {}, { token: first.accessToken }))
        .userContent,
    ).toBe("User Content.");

    const rotated = inBody(
      expectData(await api.execute(RefreshTokenDocument, { refreshToken: first.refreshToken }))
        .refreshToken,
    );
    expect(rotated.sessionId).toBe(first.sessionId);
    expect(rotated.refreshToken).not.toBe(first.refreshToken);

    // The spent token again: reuse, which ends the whole session, the new token included.
    expectError(
      await api.execute(RefreshTokenDocument, { refreshToken: first.refreshToken }),
      "UNAUTHENTICATED",
      "REFRESH_TOKEN_REUSED",
    );
    expectError(
      await api.execute(RefreshTokenDocument, { refreshToken: rotated.refreshToken }),
      "UNAUTHENTICATED",
      "REFRESH_TOKEN_INVALID",
    );

    // The other session still works until it signs out.
    const other = inBody(byEmail);
    const next = inBody(
      expectData(await api.execute(RefreshTokenDocument, { refreshToken: other.refreshToken }))
        .refreshToken,
    );
    expect(
      expectData(await api.execute(SignoutDocument, { refreshToken: next.refreshToken })).signout,
    ).toBe(true);
    expectError(
      await api.execute(RefreshTokenDocument, { refreshToken: next.refreshToken }),
      "UNAUTHENTICATED",
    );
  });

  it("of two signups with one name at once, exactly one wins", async () => {
    const api = running();
    const account = newAccount("pgrace");
    const answers = await Promise.all([
      api.execute(SignupDocument, { input: account }),
      api.execute(SignupDocument, {
        input: { ...account, email: `other-${account.email}` },
      }),
    ]);
    const won = answers.filter((a) => a.data?.signup);
    const lost = answers.filter((a) => a.errors?.length);
    expect(won).toHaveLength(1);
    expect(lost).toHaveLength(1);
    expect(lost[0]!.errors![0]!.extensions?.reason).toBe("USERNAME_TAKEN");
  });
});
