import { randomBytes } from "node:crypto";
import mongoose from "mongoose";
import {
  connectDatabase,
  disconnectDatabase,
  withDatabaseName,
  type ConnectOptions,
} from "../../src/db/connection";

/**
 * Connects this test file to a database of its own inside the run's database server, so
 * files can run in parallel without seeing each other's users.
 */
export async function connectTestDatabase(options: ConnectOptions = {}): Promise<string> {
  const base = process.env.TEST_MONGODB_URI;
  if (!base)
    throw new Error("TEST_MONGODB_URI is not set: run the tests through jest's global setup");
  const uri = withDatabaseName(base, `test_${randomBytes(6).toString("hex")}`);
  await connectDatabase(uri, options);
  return uri;
}

export async function disconnectTestDatabase(): Promise<void> {
  await mongoose.connection.db?.dropDatabase().catch(() => undefined);
  await disconnectDatabase();
}
