import mongoose from "mongoose";

// Fail fast instead of queueing commands while disconnected: a request should get
// SERVICE_UNAVAILABLE in seconds, not hang for the driver's default timeouts.
mongoose.set("bufferCommands", false);
mongoose.set("strictQuery", true);

const SERVER_SELECTION_TIMEOUT_MS = 5_000;

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
