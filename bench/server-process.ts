import "reflect-metadata";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import v8 from "node:v8";
import type * as ConfigModule from "../src/config";
import type * as ConnectionModule from "../src/db/connection";
import type * as LoggerModule from "../src/logger";
import type * as ServerModule from "../src/server";
import { PUBLIC_CONTENT_BODY, type FromServer, type ServerSpec, type ToServer } from "./protocol";

/**
 * One server under test, in its own process so that its event loop, CPU and memory are its
 * own and not the load generator's. The bench forks it and talks to it over IPC.
 */

const RSS_SAMPLE_MS = 50;

function send(message: FromServer): void {
  process.send?.(message);
}

/** A process-wide peak, sampled often enough to catch the high points of a 8 s run. */
function trackPeakRss() {
  let peak = process.memoryUsage.rss();
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage.rss());
  }, RSS_SAMPLE_MS);
  timer.unref();
  return {
    read(reset: boolean): number {
      const value = Math.max(peak, process.memoryUsage.rss());
      if (reset) peak = process.memoryUsage.rss();
      return value;
    },
  };
}

async function startBareHttp(): Promise<{ url: string; close(): Promise<void> }> {
  const body = Buffer.from(PUBLIC_CONTENT_BODY);
  const server = http.createServer((req, res) => {
    // Read the request like a real server has to before it can answer.
    req.resume();
    req.on("end", () => {
      res.writeHead(200, { "content-type": "application/json", "content-length": body.length });
      res.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/graphql`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/**
 * Apollo Server 5 as its docs start it: startStandaloneServer (node:http), a one-field schema,
 * every default. The reference our publicContent is held to.
 */
async function startBareApollo(): Promise<{ url: string; close(): Promise<void> }> {
  const { ApolloServer } = await import("@apollo/server");
  const { startStandaloneServer } = await import("@apollo/server/standalone");
  const server = new ApolloServer({
    typeDefs: "type Query { publicContent: String! }",
    resolvers: { Query: { publicContent: () => "Public Content." } },
  });
  const { url } = await startStandaloneServer(server, { listen: { port: 0, host: "127.0.0.1" } });
  return { url: new URL("/graphql", url).toString(), close: () => server.stop() };
}

async function startApollo(spec: ServerSpec): Promise<{ url: string; close(): Promise<void> }> {
  const load = async <T>(file: string) => (await import(path.join(spec.distDir, file))) as T;
  const { loadConfig } = await load<typeof ConfigModule>("config.js");
  const { connectDatabase, disconnectDatabase } =
    await load<typeof ConnectionModule>("db/connection.js");
  const { createLogger } = await load<typeof LoggerModule>("logger.js");
  const { startServer } = await load<typeof ServerModule>("server.js");

  const config = loadConfig({ ...spec.env, PASSWORD_WORKERS: String(spec.passwordWorkers) });
  if (!config.mongodbUri) throw new Error("the bench server needs MONGODB_URI");
  await connectDatabase(config.mongodbUri, { monitorCommands: config.metrics.enabled });
  const server = await startServer(config, createLogger(config));
  return {
    url: server.url,
    close: async () => {
      await server.close();
      await disconnectDatabase();
    },
  };
}

async function main(): Promise<void> {
  const raw = process.env.BENCH_SERVER;
  if (!raw) throw new Error("BENCH_SERVER is not set: this process is started by bench/run.ts");
  const spec = JSON.parse(raw) as ServerSpec;
  const rss = trackPeakRss();
  const server =
    spec.mode === "bare-http"
      ? await startBareHttp()
      : spec.mode === "bare-apollo"
        ? await startBareApollo()
        : await startApollo(spec);

  process.on("message", (message: ToServer) => {
    if (message.type === "peak-rss") {
      send({ type: "peak-rss", bytes: rss.read(message.reset) });
    } else if (message.type === "memory") {
      const mb = (bytes: number) => Math.round(bytes / 1024 / 102.4) / 10;
      const usage = Object.fromEntries(
        Object.entries(process.memoryUsage()).map(([name, bytes]) => [name, mb(bytes)]),
      );
      const heapSpaces = Object.fromEntries(
        v8.getHeapSpaceStatistics().map((space) => [space.space_name, mb(space.space_size)]),
      );
      send({ type: "memory", usage, heapSpaces });
    } else if (message.type === "cpu") {
      const { user, system } = process.cpuUsage();
      send({ type: "cpu", micros: user + system });
    } else {
      void server.close().finally(() => process.exit(0));
    }
  });
  // The bench going away must not leave a server running.
  process.on("disconnect", () => process.exit(0));
  send({ type: "ready", url: server.url });
}

main().catch((error: unknown) => {
  const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
  send({ type: "failed", message });
  process.exit(1);
});
