import { setTimeout as sleep } from "node:timers/promises";
import mongoose from "mongoose";

// Fail fast instead of queueing commands while disconnected: a request should get
// SERVICE_UNAVAILABLE in seconds, not hang for the driver's default timeouts.
mongoose.set("bufferCommands", false);
mongoose.set("strictQuery", true);

// How long a request waits for an unreachable database before it gets SERVICE_UNAVAILABLE.
const SERVER_SELECTION_TIMEOUT_MS = 2_500;

/** Adds a database name to a base URI that has none (the embedded server's URI). */
export function withDatabaseName(uri: string, name: string): string {
  const url = new URL(uri);
  if (url.pathname === "" || url.pathname === "/") url.pathname = `/${name}`;
  return url.toString();
}

/** Connects the models and makes sure their indexes (the unique ones carry rules) exist. */
export async function connectDatabase(uri: string): Promise<void> {
  await mongoose.connect(uri, {
    serverSelectionTimeoutMS: SERVER_SELECTION_TIMEOUT_MS,
    autoIndex: false,
  });
  await Promise.all(Object.values(mongoose.models).map((model) => model.createIndexes()));
}

/**
 * Connects, retrying with back-off (0.5 s doubling to 15 s) until it works or `signal` aborts,
 * so a server started before its database serves as soon as the database comes up. After the
 * first connection the driver reconnects by itself.
 */
export async function connectWithRetry(
  uri: string,
  options: { onRetry?: (error: unknown, delayMs: number) => void; signal?: AbortSignal } = {},
): Promise<void> {
  let delayMs = 500;
  for (;;) {
    try {
      await connectDatabase(uri);
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
