import { readdirSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import { PublicContentDocument } from "./generated/graphql";
import { expectData, useTestServer } from "./setup/kit";

// The bundles `npm test` builds first (npm run build): the IDE and the example app.
const IDE_ASSETS = path.resolve(__dirname, "..", "ide", "dist", "assets");
const APP_ASSETS = path.resolve(__dirname, "..", "examples", "web", "dist", "assets");
const firstScript = (dir: string) => readdirSync(dir).find((name) => name.endsWith(".js"))!;

/** The policy of every answer that is not one of the two HTML pages: it loads nothing. */
const JSON_POLICY = /^default-src 'none'; ?frame-ancestors 'none'$/;

function expectSecurityHeaders(label: string, headers: Headers, policy: RegExp): void {
  const got = (name: string) => headers.get(name);
  expect({
    label,
    csp: got("content-security-policy"),
    frameOptions: got("x-frame-options"),
    nosniff: got("x-content-type-options"),
    referrer: got("referrer-policy"),
  }).toEqual({
    label,
    csp: expect.stringMatching(policy),
    frameOptions: "DENY",
    nosniff: "nosniff",
    referrer: "no-referrer",
  });
  // Whatever the policy, no other site may frame the answer.
  expect(got("content-security-policy")).toContain("frame-ancestors 'none'");
}

describe("security headers", () => {
  const ctx = useTestServer();
  const get = (pathname: string, accept = "*/*") =>
    fetch(`${ctx.server.origin}${pathname}`, { headers: { accept }, redirect: "manual" });

  it("are on the IDE page, with its own policy, and on its bundle files", async () => {
    const page = await get("/graphql", "text/html");
    expect(page.status).toBe(200);
    expectSecurityHeaders("IDE page", page.headers, /script-src 'self'/);
    expect(page.headers.get("content-security-policy")).not.toMatch(/default-src 'none'/);

    const asset = await get(`/graphql-ide/assets/${firstScript(IDE_ASSETS)}`);
    expect(asset.status).toBe(200);
    expectSecurityHeaders("IDE asset", asset.headers, JSON_POLICY);
  });

  it("are on the example app's page, with its own policy, and on its bundle files", async () => {
    const page = await get("/app/", "text/html");
    expect(page.status).toBe(200);
    expectSecurityHeaders("app page", page.headers, /script-src 'self'/);

    const asset = await get(`/app/assets/${firstScript(APP_ASSETS)}`);
    expect(asset.status).toBe(200);
    expectSecurityHeaders("app asset", asset.headers, JSON_POLICY);
  });

  it("are on GraphQL answers, which no cache may keep", async () => {
    const response = await ctx.server.execute(PublicContentDocument);
    expect(expectData(response).publicContent).toBe("Public Content.");
    expectSecurityHeaders("GraphQL answer", response.headers, JSON_POLICY);
    expect(response.headers.get("cache-control")).toBe("no-store");
  });

  it("are on refusals and errors: 404, 413, bad JSON, a malformed path", async () => {
    const notFound = await get("/no-such-page", "text/html");
    expect(notFound.status).toBe(404);
    expectSecurityHeaders("404", notFound.headers, JSON_POLICY);

    const tooLarge = await ctx.server.post(
      JSON.stringify({ query: "{ publicContent }", variables: { pad: "x".repeat(200_000) } }),
    );
    expect(tooLarge.status).toBe(413);
    expectSecurityHeaders("413", tooLarge.headers, JSON_POLICY);

    const notJson = await ctx.server.post('{"query": ');
    expect(notJson.status).toBe(400);
    expectSecurityHeaders("bad JSON", notJson.headers, JSON_POLICY);

    // Refused before any route matches: the headers come from the refusal itself.
    const malformed = await get("/%zz");
    expect(malformed.status).toBe(400);
    expect(malformed.headers.get("content-type")).toMatch(/^application\/json/);
    expectSecurityHeaders("malformed path", malformed.headers, JSON_POLICY);
  });

  it("are on the answer to a request that is not HTTP at all", async () => {
    const { hostname, port } = new URL(ctx.server.url);
    const answer = await new Promise<string>((resolve, reject) => {
      let received = "";
      const socket = net.connect(Number(port), hostname, () => socket.end("GARBAGE\r\n\r\n"));
      socket.setEncoding("latin1");
      socket.on("data", (chunk: string) => (received += chunk));
      socket.on("close", () => resolve(received));
      socket.on("error", reject);
    });
    const [statusLine, ...lines] = answer.split("\r\n\r\n")[0]!.split("\r\n");
    expect(statusLine).toMatch(/^HTTP\/1\.1 400 /);
    const headers = new Headers(
      lines.map((line) => [
        line.slice(0, line.indexOf(":")),
        line.slice(line.indexOf(":") + 1).trim(),
      ]),
    );
    expectSecurityHeaders("unparseable request", headers, JSON_POLICY);
  });

  it("are on the health checks", async () => {
    const healthz = await get("/healthz");
    expect(healthz.status).toBe(200);
    expectSecurityHeaders("/healthz", healthz.headers, JSON_POLICY);
    const readyz = await get("/readyz");
    expect(readyz.status).toBe(200);
    expectSecurityHeaders("/readyz", readyz.headers, JSON_POLICY);
  });
});
