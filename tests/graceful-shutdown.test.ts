import { promises as fs } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { withDatabaseName } from "../src/db/connection";
import { PublicContentDocument, SigninDocument, SignupDocument } from "./generated/graphql";
import { expectData, newAccount } from "./setup/kit";
import { killServerProcesses, spawnServer } from "./setup/server-process";

function databaseUri(): string {
  const base = process.env.TEST_MONGODB_URI;
  if (!base) throw new Error("TEST_MONGODB_URI is not set: run through jest's global setup");
  return withDatabaseName(base, `shutdown_${process.pid}_${Date.now()}`);
}

function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: "127.0.0.1", port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(false);
    });
    socket.once("error", () => resolve(true));
  });
}

describe("process lifecycle", () => {
  afterAll(killServerProcesses);

  it("SIGTERM during a slow signin lets the signin finish, then exits 0 and stops listening", async () => {
    // Cost 12 on the main thread of a busy machine: a signin takes a few hundred ms at least.
    const server = await spawnServer({
      // Production and development, not test: Apollo installs its own signal handlers outside
      // NODE_ENV=test, and those once left the process hanging after SIGTERM.
      env: {
        NODE_ENV: "production",
        MONGODB_URI: databaseUri(),
        // Production would need an SMTP server for it.
        EMAIL_ENABLED: "false",
        BCRYPT_ROUNDS: "12",
        PASSWORD_WORKERS: "1",
      },
    });
    // The server listens before its database is connected (it serves /readyz meanwhile).
    await server.waitForMessage(/^database connected/);
    const account = newAccount("drain");
    expectData(await server.execute(SignupDocument, { input: account }));

    const signin = server.execute(SigninDocument, {
      input: { username: account.username, password: account.password },
    });
    await new Promise((resolve) => setTimeout(resolve, 50));
    const exitCode = server.stop("SIGTERM");

    const payload = expectData(await signin).signin;
    expect(payload.accessToken.split(".")).toHaveLength(3);
    expect(await exitCode).toBe(0);
    expect(await refused(server.port)).toBe(true);
    // The signin was still running when the signal came: its log line follows the shutdown's.
    const lines = server.lines.map(
      (line) => JSON.parse(line) as { msg?: string; operationName?: string },
    );
    const shutdownAt = lines.findIndex((l) => l.msg?.startsWith("shutting down"));
    const signinAt = lines.findIndex(
      (l) => l.msg === "graphql request" && l.operationName === "Signin",
    );
    expect(shutdownAt).toBeGreaterThan(-1);
    expect(signinAt).toBeGreaterThan(shutdownAt);
    expect(server.messages()).toEqual(expect.arrayContaining(["stopped"]));
  }, 60_000);

  it("SIGINT exits 0 too", async () => {
    const server = await spawnServer({
      env: { NODE_ENV: "development", MONGODB_URI: databaseUri() },
    });
    expect(expectData(await server.execute(PublicContentDocument)).publicContent).toBe(
      "Public Content.",
    );
    expect(await server.stop("SIGINT")).toBe(0);
    expect(await refused(server.port)).toBe(true);
  }, 60_000);

  it("stops the embedded FerretDB it started", async () => {
    const cwd = await fs.mkdtemp(path.join(os.tmpdir(), "graphql-jwt-auth-embedded-"));
    try {
      const server = await spawnServer({
        env: { NODE_ENV: "development", MONGODB_URI: undefined },
        cwd,
        readyTimeoutMs: 60_000,
      });
      const line = await server.waitForMessage(/Embedded FerretDB .* listening on/, 30_000);
      const port = Number(/mongodb:\/\/127\.0\.0\.1:(\d+)/.exec(line)?.[1]);
      expect(port).toBeGreaterThan(0);
      expect(await refused(port)).toBe(false);

      expect(await server.stop("SIGTERM")).toBe(0);
      expect(await refused(port)).toBe(true);
      // Its data lives where `npm start` keeps it: .data/ under the working directory.
      expect((await fs.stat(path.join(cwd, ".data", "ferretdb"))).isDirectory()).toBe(true);
    } finally {
      await fs.rm(cwd, { recursive: true, force: true });
    }
  }, 90_000);
});
