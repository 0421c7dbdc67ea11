import { fork } from "node:child_process";
import { promises as fs } from "node:fs";
import os from "node:os";
import path from "node:path";
import autocannon from "autocannon";
import { databaseHelpers, postGraphql, productionSpec, SERVER_NODE_FLAGS } from "./one-server";
import type { FromServer, ToServer } from "./protocol";

/**
 * `node dist/bench/bench/memory-probe.js [--node-flag ...] [VAR=value ...]`: where one server's
 * memory goes, step by step as the bench drives it (start, 40 signups at once at bcrypt cost
 * 12, 40 signins, 10 s of publicContent), with RSS, the V8 heap by space and external memory
 * after each step. The RSS target's explanation comes from here. With PROBE_HEAP_SNAPSHOT=1 and
 * --heapsnapshot-signal=SIGUSR2 the server also writes a heap snapshot (into the working
 * folder) after the last step.
 */

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const nodeFlags = args.filter((arg) => arg.startsWith("--"));
  const extraEnv = Object.fromEntries(
    args.filter((arg) => !arg.startsWith("--")).map((s) => s.split("=", 2) as [string, string]),
  );
  const { startEmbeddedDatabase, withDatabaseName } = await databaseHelpers();
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), "graphql-jwt-auth-memory-"));
  const database = await startEmbeddedDatabase({ dataDir, log: () => undefined });
  const spec = productionSpec(withDatabaseName(database.uri, "memory"), {
    BCRYPT_ROUNDS: "12",
    ...extraEnv,
  });
  const child = fork(path.join(__dirname, "server-process.js"), [], {
    env: { ...process.env, BENCH_SERVER: JSON.stringify(spec) },
    execArgv: [...SERVER_NODE_FLAGS, ...nodeFlags],
    stdio: ["ignore", "ignore", "inherit", "ipc"],
  });
  const next = () => new Promise<FromServer>((resolve) => child.once("message", resolve));
  const ready = await next();
  if (ready.type !== "ready") throw new Error(JSON.stringify(ready));
  const url = ready.url;
  const report = async (step: string) => {
    child.send({ type: "memory" } satisfies ToServer);
    const answer = await next();
    if (answer.type !== "memory") throw new Error(JSON.stringify(answer));
    const u = answer.usage;
    const spaces = Object.entries(answer.heapSpaces)
      .filter(([, mb]) => mb >= 1)
      .map(([name, mb]) => `${name.replace(/_space$/, "")} ${mb}`)
      .join(", ");
    process.stdout.write(
      `${step}: rss ${u.rss}, heap ${u.heapTotal} (used ${u.heapUsed}; ${spaces}), ` +
        `external ${u.external} (array buffers ${u.arrayBuffers})\n`,
    );
  };
  try {
    await report("started");
    const users = Array.from({ length: 40 }, (_, i) => ({
      username: `mem_${i}`,
      email: `mem_${i}@example.com`,
      password: `memory-probe-password-${i}`,
    }));
    await Promise.all(
      users.map((input) =>
        postGraphql(url, "mutation($input: SignupInput!) { signup(input: $input) { id } }", {
          input,
        }),
      ),
    );
    await report("after 40 signups at once");
    await Promise.all(
      users.map((u) =>
        postGraphql(
          url,
          "mutation($input: SigninInput!) { signin(input: $input) { accessToken } }",
          {
            input: { username: u.username, password: u.password },
          },
        ),
      ),
    );
    await report("after 40 signins at once");
    await autocannon({
      url,
      method: "POST",
      connections: 20,
      duration: 10,
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ query: "{ publicContent }" }),
    });
    await report("after 10 s of publicContent");
    if (process.env.PROBE_HEAP_SNAPSHOT) {
      // Needs --heapsnapshot-signal=SIGUSR2 among the node flags; written in the working folder.
      child.kill("SIGUSR2");
      await new Promise((resolve) => setTimeout(resolve, 15_000));
    }
  } finally {
    child.send({ type: "stop" } satisfies ToServer);
    await new Promise((resolve) => child.once("exit", resolve));
    await database.stop();
    await fs.rm(dataDir, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
