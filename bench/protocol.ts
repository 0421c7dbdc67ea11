/** What the bench tells a server process to be, passed as JSON in BENCH_SERVER. */
export interface ServerSpec {
  readonly mode: "bare-http" | "apollo";
  /** Absolute path of the compiled server (dist/). */
  readonly distDir: string;
  /** The environment handed to loadConfig (apollo mode). */
  readonly env: Readonly<Record<string, string>>;
  /** Password hashing threads (apollo mode); 0 hashes on the main thread. */
  readonly passwordWorkers: number;
}

export type ToServer = { type: "peak-rss"; reset: boolean } | { type: "stop" };

export type FromServer =
  | { type: "ready"; url: string }
  | { type: "peak-rss"; bytes: number }
  | { type: "failed"; message: string };

/** The bare node:http limit answers every request with the body Apollo gives publicContent. */
export const PUBLIC_CONTENT_BODY = '{"data":{"publicContent":"Public Content."}}\n';
