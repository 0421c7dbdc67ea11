import { setTimeout as sleep } from "node:timers/promises";
import mongoose from "mongoose";
import { watchCommands } from "./command-monitor";

// Fail fast instead of queueing commands while disconnected: a request should get
// SERVICE_UNAVAILABLE in seconds, not hang for the driver's default timeouts.
mongoose.set("bufferCommands", false);
mongoose.set("strictQuery", true);

// How long a request waits for an unreachable database before it gets SERVICE_UNAVAILABLE.
const SERVER_SELECTION_TIMEOUT_MS = 2_500;
// Also the time limit of the driver's health check (hello) on its monitoring connection: at the
// default 30 s, a database host that stops answering stays "maybe up" for half a minute.
const CONNECT_TIMEOUT_MS = 5_000;
const HEARTBEAT_FREQUENCY_MS = 10_000;
// Every operation's time limit (the driver's timeoutMS), waiting for a server included. Without
// it, an operation caught by a database shutdown can wait forever: the driver may write to a
// socket already destroyed and then wait for a 'drain' event that never comes (mongodb 7.x),
// and a request would hang instead of getting SERVICE_UNAVAILABLE. Our operations take
// milliseconds; one that takes seconds means the database is not really there.
const OPERATION_TIMEOUT_MS = 3_000;
const INDEX_TIMEOUT_MS = 60_000;

/** Adds a database name to a base URI that has none (the embedded server's URI). */
export function withDatabaseName(uri: string, name: string): string {
  const url = new URL(uri);
  if (url.pathname === "" || url.pathname === "/") url.pathname = `/${name}`;
  return url.toString();
}

export interface ConnectOptions {
  onRetry?: (error: unknown, delayMs: number) => void;
  /** Called when the driver's health check hung and the client is being replaced. */
  onHungHealthCheck?: () => void;
  signal?: AbortSignal;
  /** Report every command's time and failure to onDatabaseCommand (the metrics). */
  monitorCommands?: boolean;
}

/** Connects the models and makes sure their indexes (the unique ones carry rules) exist. */
export async function connectDatabase(uri: string, options: ConnectOptions = {}): Promise<void> {
  await mongoose.connect(uri, {
    serverSelectionTimeoutMS: SERVER_SELECTION_TIMEOUT_MS,
    connectTimeoutMS: CONNECT_TIMEOUT_MS,
    heartbeatFrequencyMS: HEARTBEAT_FREQUENCY_MS,
    timeoutMS: OPERATION_TIMEOUT_MS,
    autoIndex: false,
    monitorCommands: options.monitorCommands ?? false,
  });
  if (options.monitorCommands) watchCommands(mongoose.connection.getClient());
  superviseHealthChecks(uri, options);
  // Start-up work, not a request: a loaded machine may take longer than a request is allowed.
  // One model after the other, so the server does not get a burst of index builds at once.
  for (const model of Object.values(mongoose.models)) {
    await model.createIndexes({ timeoutMS: INDEX_TIMEOUT_MS });
  }
}

const supervised = new WeakSet<mongoose.mongo.MongoClient>();
/** The reconnection superviseHealthChecks started, so disconnectDatabase can stop it. */
let replacing: { abort: AbortController; done: Promise<void> } | undefined;

/**
 * Works around a driver hang (mongodb 7.x): when the database shuts down, the driver's health
 * check can write its hello to a socket that is already destroyed but not yet seen as closed,
 * and then waits for a 'drain' event that never comes. On MongoDB the driver resets its monitor
 * on the next network error; on servers without topologyVersion (FerretDB) it does not, so the
 * server stayed "unreachable" forever after the database came back, and every request got
 * SERVICE_UNAVAILABLE. A health check that neither succeeds nor fails well past its own time
 * limit is that hang: the client is then replaced by a fresh one. (Replacing a client whose
 * check was merely slow costs nothing: its database was not answering anyway.)
 */
function superviseHealthChecks(uri: string, options: ConnectOptions): void {
  const client = mongoose.connection.getClient();
  if (supervised.has(client)) return;
  supervised.add(client);
  /** Per monitored server: when its pending check started, and how long it may take. */
  const pending = new Map<string, { since: number; limitMs: number }>();
  const onStarted = (event: mongoose.mongo.ServerHeartbeatStartedEvent) => {
    // A streaming (awaited) check legitimately waits up to heartbeatFrequencyMS for news.
    const limitMs = CONNECT_TIMEOUT_MS + (event.awaited ? HEARTBEAT_FREQUENCY_MS : 0) + 2_000;
    pending.set(event.connectionId, { since: Date.now(), limitMs });
  };
  const onSettled = (event: { connectionId: string }) => pending.delete(event.connectionId);
  client.on("serverHeartbeatStarted", onStarted);
  client.on("serverHeartbeatSucceeded", onSettled);
  client.on("serverHeartbeatFailed", onSettled);

  const timer = setInterval(() => {
    const now = Date.now();
    const hung = [...pending.values()].some((check) => now - check.since > check.limitMs);
    if (!hung || replacing || mongoose.connection.getClient() !== client) return;
    stop();
    options.onHungHealthCheck?.();
    const abort = new AbortController();
    const done = (async () => {
      // Not close(true): mongoose refuses every later operation on a force-closed connection.
      await mongoose.connection.close().catch(() => undefined);
      await connectWithRetry(uri, { ...options, signal: abort.signal }).catch(() => undefined);
    })();
    replacing = { abort, done };
    void done.finally(() => {
      if (replacing?.done === done) replacing = undefined;
    });
  }, 1_000);
  // Never what keeps a process (or a jest worker) alive.
  timer.unref();

  const stop = () => {
    clearInterval(timer);
    client.off("serverHeartbeatStarted", onStarted);
    client.off("serverHeartbeatSucceeded", onSettled);
    client.off("serverHeartbeatFailed", onSettled);
  };
  client.once("topologyClosed", stop);
}

/**
 * Connects, retrying with back-off (0.5 s doubling to 15 s) until it works or `signal` aborts,
 * so a server started before its database serves as soon as the database comes up. After the
 * first connection the driver reconnects by itself (and superviseHealthChecks steps in where
 * it would not).
 */
export async function connectWithRetry(uri: string, options: ConnectOptions = {}): Promise<void> {
  let delayMs = 500;
  for (;;) {
    try {
      await connectDatabase(uri, options);
      return;
    } catch (error) {
      if (options.signal?.aborted) throw error;
      options.onRetry?.(error, delayMs);
      await sleep(delayMs, undefined, { signal: options.signal });
      delayMs = Math.min(delayMs * 2, 15_000);
    }
  }
}

/** Runs `callback` now if connected, else once the connection comes up. */
export function whenDatabaseConnected(callback: () => void): void {
  if (mongoose.connection.readyState === 1) callback();
  else mongoose.connection.once("connected", callback);
}

export function isDatabaseConnected(): boolean {
  return mongoose.connection.readyState === 1;
}

export async function disconnectDatabase(): Promise<void> {
  const reconnecting = replacing;
  if (reconnecting) {
    reconnecting.abort.abort();
    await reconnecting.done;
  }
  await mongoose.disconnect();
}

/** For /readyz: connected and answering a ping within a second. */
export async function isDatabaseReady(): Promise<boolean> {
  const db = mongoose.connection.db;
  if (mongoose.connection.readyState !== 1 || !db) return false;
  try {
    await Promise.race([
      db.admin().command({ ping: 1 }),
      new Promise((_, reject) =>
        setTimeout(() => reject(new Error("ping timeout")), 1_000).unref(),
      ),
    ]);
    return true;
  } catch {
    return false;
  }
}
