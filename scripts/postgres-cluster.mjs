// `npm run postgres:cluster [folder]`: a private PostgreSQL cluster for development, in
// .data/postgres unless told otherwise, on a free loopback port (PORT=5432 to choose one).
// It prints the URL to give the server, runs in the foreground, and stops on Ctrl-C.
// Needs PostgreSQL's server programs (Debian: `apt-get install postgresql`).
import { createRequire } from "node:module";
import path from "node:path";
import process from "node:process";
import { ROOT, buildStale } from "./build.mjs";

const say = (line) => process.stderr.write(`postgres:cluster: ${line}\n`);

await buildStale(["server"], { log: say });
const { startPostgresCluster } = createRequire(import.meta.url)(
  path.join(ROOT, "dist", "db", "postgres-cluster.js"),
);
const dir = path.resolve(process.argv[2] ?? path.join(".data", "postgres"));
const port = process.env.PORT ? Number(process.env.PORT) : undefined;
let cluster;
try {
  cluster = await startPostgresCluster({ dir, port, log: say });
} catch (error) {
  say(error.message);
  process.exit(1);
}
say(`ready: ${cluster.url}`);
say(`run the server on it: EMBEDDED_DB_BACKEND=postgres POSTGRESQL_URL=${cluster.url} npm start`);
say("Ctrl-C stops it; its data stays in the folder for the next start.");
let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  await cluster.stop();
  process.exit(0);
};
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) process.on(signal, () => void stop());
