import { promises as fs } from "node:fs";

export default async function globalTeardown(): Promise<void> {
  const running = globalThis.__TEST_DATABASE__;
  if (!running) return;
  await running.database.stop();
  await fs.rm(running.dataDir, { recursive: true, force: true });
}
