/** What the bench tells a server process to be, passed as JSON in BENCH_SERVER. */
export interface ServerSpec {
  /** bare-http and bare-apollo are references: no schema of ours, no hardening, no database. */
  readonly mode: "bare-http" | "bare-apollo" | "apollo";
  /** Absolute path of the compiled server (dist/). */
  readonly distDir: string;
  /** The environment handed to loadConfig (apollo mode). */
  readonly env: Readonly<Record<string, string>>;
  /** Password hashing threads (apollo mode); 0 hashes on the main thread. */
  readonly passwordWorkers: number;
}

export type ToServer =
  { type: "peak-rss"; reset: boolean } | { type: "cpu" } | { type: "memory" } | { type: "stop" };

export type FromServer =
  | { type: "ready"; url: string }
  | { type: "peak-rss"; bytes: number }
  /** process.cpuUsage(), user + system, in microseconds since the process started. */
  | { type: "cpu"; micros: number }
  /** Where the RSS is: process.memoryUsage() and V8's heap spaces, in MB. */
  | { type: "memory"; usage: Record<string, number>; heapSpaces: Record<string, number> }
  | { type: "failed"; message: string };

/** The bare node:http limit answers every request with the body Apollo gives publicContent. */
export const PUBLIC_CONTENT_BODY = '{"data":{"publicContent":"Public Content."}}\n';
