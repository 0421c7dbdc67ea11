import http from "node:http";
import net from "node:net";
import { performance } from "node:perf_hooks";
import { sleep, useTestServer } from "./setup/kit";

/*
 * A client that sends its request a byte at a time (slowloris) must not hold a connection for
 * node's default 300 s. The server here has 1-2 s timeouts; the bounds checked are generous
 * (node looks for expired connections about once a second, and the machine may be busy).
 */
const HEADERS_TIMEOUT_S = 1;
const REQUEST_TIMEOUT_S = 2;
const KEEP_ALIVE_TIMEOUT_S = 1;
/** Far past every timeout above, far below node's 300 s. */
const CUT_WITHIN_MS = 20_000;

interface Cut {
  readonly cut: boolean;
  readonly afterMs: number;
  readonly received: string;
}

/**
 * Opens a connection, writes `opening`, then one more byte every `everyMs`, never finishing
 * the request. Resolves when the server closes the connection, or after CUT_WITHIN_MS.
 */
function trickle(port: number, opening: string, everyMs = 200): Promise<Cut> {
  return new Promise((resolve) => {
    const started = performance.now();
    const socket = net.connect({ host: "127.0.0.1", port });
    let received = "";
    let ticker: NodeJS.Timeout | undefined;
    const finish = (cut: boolean) => {
      clearInterval(ticker);
      clearTimeout(giveUp);
      socket.destroy();
      resolve({ cut, afterMs: performance.now() - started, received });
    };
    const giveUp = setTimeout(() => finish(false), CUT_WITHIN_MS);
    socket.setEncoding("latin1");
    socket.on("data", (chunk: string) => (received += chunk));
    socket.on("close", () => finish(true));
    // A write racing the server's close fails with EPIPE or ECONNRESET: that is the cut.
    socket.on("error", () => finish(true));
    socket.once("connect", () => {
      socket.write(opening);
      ticker = setInterval(() => socket.write("x"), everyMs);
    });
  });
}

/** One publicContent request on a connection of its own; resolves with the status. */
function publicContent(port: number): Promise<number> {
  const body = JSON.stringify({ query: "{ publicContent }" });
  return new Promise((resolve, reject) => {
    const request = http.request(
      {
        host: "127.0.0.1",
        port,
        path: "/graphql",
        method: "POST",
        agent: false,
        headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) },
      },
      (response) => {
        response.resume();
        response.on("end", () => resolve(response.statusCode ?? 0));
      },
    );
    request.on("error", reject);
    request.end(body);
  });
}

/** Sends ordinary requests until `done` settles; resolves with their statuses. */
async function servedMeanwhile(port: number, done: Promise<unknown>): Promise<number[]> {
  let finished = false;
  void done.finally(() => (finished = true));
  const statuses: number[] = [];
  while (!finished) {
    statuses.push(await publicContent(port));
    await sleep(250);
  }
  return statuses;
}

describe("HTTP timeouts", () => {
  const ctx = useTestServer({
    HTTP_HEADERS_TIMEOUT: String(HEADERS_TIMEOUT_S),
    HTTP_REQUEST_TIMEOUT: String(REQUEST_TIMEOUT_S),
    HTTP_KEEP_ALIVE_TIMEOUT: String(KEEP_ALIVE_TIMEOUT_S),
  });
  const port = () => Number(new URL(ctx.server.url).port);

  it("cuts off a client that trickles its headers, while others are served", async () => {
    const slow = trickle(port(), "GET /graphql?query=");
    const statuses = await servedMeanwhile(port(), slow);
    const { cut, afterMs, received } = await slow;

    expect({ cut, withinBound: afterMs < CUT_WITHIN_MS }).toEqual({ cut: true, withinBound: true });
    // Not refused on sight: it had its HTTP_HEADERS_TIMEOUT first.
    expect(afterMs).toBeGreaterThanOrEqual(HEADERS_TIMEOUT_S * 1000 * 0.5);
    if (received !== "") expect(received).toMatch(/^HTTP\/1\.1 408 /);
    expect(statuses.length).toBeGreaterThan(0);
    expect(statuses.every((status) => status === 200)).toBe(true);
  });

  it("cuts off a client that trickles its body, while others are served", async () => {
    const headers =
      "POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n" +
      "Content-Length: 10000\r\n\r\n";
    const slow = trickle(port(), `${headers}{"query":"`);
    const statuses = await servedMeanwhile(port(), slow);
    const { cut, afterMs, received } = await slow;

    expect({ cut, withinBound: afterMs < CUT_WITHIN_MS }).toEqual({ cut: true, withinBound: true });
    expect(afterMs).toBeGreaterThanOrEqual(REQUEST_TIMEOUT_S * 1000 * 0.5);
    if (received !== "") expect(received).toMatch(/^HTTP\/1\.1 408 /);
    expect(statuses.length).toBeGreaterThan(0);
    expect(statuses.every((status) => status === 200)).toBe(true);
  });

  it("closes a kept-alive connection that stays idle", async () => {
    const closed = await new Promise<Cut>((resolve) => {
      const started = performance.now();
      const socket = net.connect({ host: "127.0.0.1", port: port() });
      let received = "";
      const giveUp = setTimeout(() => {
        socket.destroy();
        resolve({ cut: false, afterMs: performance.now() - started, received });
      }, CUT_WITHIN_MS);
      socket.setEncoding("latin1");
      socket.on("data", (chunk: string) => (received += chunk));
      socket.on("error", () => undefined);
      socket.on("close", () => {
        clearTimeout(giveUp);
        resolve({ cut: true, afterMs: performance.now() - started, received });
      });
      socket.once("connect", () =>
        socket.write("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n\r\n"),
      );
    });

    // Answered, kept open for the next request, then closed once idle.
    expect(closed.received).toMatch(/^HTTP\/1\.1 200 /);
    expect(closed.received).toMatch(new RegExp(`keep-alive: timeout=${KEEP_ALIVE_TIMEOUT_S}`, "i"));
    expect({ cut: closed.cut, withinBound: closed.afterMs < CUT_WITHIN_MS }).toEqual({
      cut: true,
      withinBound: true,
    });
  });
});
