import path from "node:path";
import { performance } from "node:perf_hooks";
import type * as ConfigModule from "../src/config";
import type * as ConnectionModule from "../src/db/connection";
import type * as LoggerModule from "../src/logger";
import type * as PasswordsModule from "../src/auth/passwords";
import type * as ServerModule from "../src/server";

/**
 * Timings that used to be millisecond assertions in the tests, where the other load on a
 * shared machine made them fail at random. The tests now check the structure that makes each
 * one fast (hashing on other threads, one bcrypt comparison of equal cost on both signin
 * paths, the parser's token cap); these rows measure the time itself, reported, not enforced.
 */

export interface TimingTarget {
  target: string;
  measured: string;
  pass: boolean;
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
};
const ms = (value: number) => `${value.toFixed(1)} ms`;

/** Longest gap between ticks of a 5 ms interval while `work` runs: the event loop's stall. */
async function longestStall(work: () => Promise<unknown>): Promise<number> {
  let last = performance.now();
  let longest = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    longest = Math.max(longest, now - last);
    last = now;
  }, 5);
  try {
    await work();
  } finally {
    clearInterval(timer);
  }
  return longest;
}

async function hashingStall(distDir: string): Promise<TimingTarget> {
  const { createPasswordHasher } = (await import(
    path.join(distDir, "auth/passwords.js")
  )) as typeof PasswordsModule;
  const passwords = createPasswordHasher(12, { workers: 2 });
  try {
    await Promise.all([passwords.hash("warm up 1"), passwords.hash("warm up 2")]);
    const stalls: number[] = [];
    for (let attempt = 0; attempt < 3; attempt++) {
      stalls.push(
        await longestStall(() =>
          Promise.all([1, 2, 3, 4].map((n) => passwords.hash(`password ${n}`))),
        ),
      );
    }
    const best = Math.min(...stalls);
    return {
      target: "event loop stall while four cost-12 hashes run in 2 threads < 50 ms (best of 3)",
      measured: ms(best),
      pass: best < 50,
    };
  } finally {
    await passwords.close();
  }
}

async function post(url: string, body: string): Promise<{ ms: number; text: string }> {
  const started = performance.now();
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body,
  });
  const text = await response.text();
  return { ms: performance.now() - started, text };
}

const SIGNIN =
  "mutation Signin($input: SigninInput!) { signin(input: $input) { accessToken refreshToken } }";

/** Two targets against one in-process server: signin timing and the 90 kB alias body. */
async function serverTimings(distDir: string, mongodbUri: string): Promise<TimingTarget[]> {
  await import("reflect-metadata");
  const load = async <T>(file: string) => (await import(path.join(distDir, file))) as T;
  const { loadConfig } = await load<typeof ConfigModule>("config.js");
  const { connectDatabase, disconnectDatabase } =
    await load<typeof ConnectionModule>("db/connection.js");
  const { createLogger } = await load<typeof LoggerModule>("logger.js");
  const { startServer } = await load<typeof ServerModule>("server.js");

  const config = loadConfig({
    NODE_ENV: "test",
    HOST: "127.0.0.1",
    PORT: "0",
    BCRYPT_ROUNDS: "10",
    PASSWORD_WORKERS: "2",
    LOG_LEVEL: "silent",
    JWT_SECRET: "bench-timing-secret-that-is-long-enough-0123456789",
    // Every attempt here fails on purpose; the throttle would end the measurement.
    SIGNIN_MAX_FAILURES: "1000000",
    SIGNIN_MAX_FAILURES_PER_IP: "1000000",
  });
  await connectDatabase(mongodbUri);
  const server = await startServer(config, createLogger(config));
  try {
    const account = {
      username: `timing_${Date.now()}`,
      email: `timing_${Date.now()}@example.com`,
      password: "timing-password-1",
    };
    await post(
      server.url,
      JSON.stringify({
        query: "mutation Signup($input: SignupInput!) { signup(input: $input) { id } }",
        variables: { input: account },
      }),
    );
    const attempt = (username: string) =>
      post(
        server.url,
        JSON.stringify({ query: SIGNIN, variables: { input: { username, password: "wrong-1" } } }),
      );
    await attempt("nobody_warm_up");
    await attempt(account.username);
    const unknown: number[] = [];
    const wrong: number[] = [];
    for (let i = 0; i < 20; i++) {
      unknown.push((await attempt(`nobody_${i}`)).ms);
      wrong.push((await attempt(account.username)).ms);
    }
    const ratio = median(unknown) / median(wrong);

    const aliases = Array.from({ length: 4_300 }, (_, i) => `a${i}: publicContent`).join(" ");
    const aliasBody = JSON.stringify({ query: `{ ${aliases} }` });
    const refusals: number[] = [];
    for (let i = 0; i < 5; i++) refusals.push((await post(server.url, aliasBody)).ms);
    const refusal = median(refusals);

    return [
      {
        target: "unknown-username signin within 0.8–1.25× of a wrong password (cost 10, medians)",
        measured: `${ratio.toFixed(2)}× (${ms(median(unknown))} / ${ms(median(wrong))})`,
        pass: ratio >= 0.8 && ratio <= 1.25,
      },
      {
        target: "90 kB body of 4,300 aliases refused < 100 ms (median of 5)",
        measured: ms(refusal),
        pass: refusal < 100,
      },
    ];
  } finally {
    await server.close();
    await disconnectDatabase();
  }
}

export async function timingTargets(options: {
  distDir: string;
  mongodbUri: string;
  log: (line: string) => void;
}): Promise<TimingTarget[]> {
  options.log("timing targets: event loop stall, signin timing, oversized documents");
  return [
    await hashingStall(options.distDir),
    ...(await serverTimings(options.distDir, options.mongodbUri)),
  ];
}
