import { readdirSync } from "node:fs";
import path from "node:path";
import { useTestServer } from "../setup/kit";

const IDE_ASSETS = path.resolve(__dirname, "..", "..", "ide", "dist", "assets");
const APP_ASSETS = path.resolve(__dirname, "..", "..", "examples", "web", "dist", "assets");
const firstScript = (dir: string) => readdirSync(dir).find((name) => name.endsWith(".js"))!;

/** What the IDE and example routes answer over plain HTTP, without a browser. */
describe("pages served next to the API", () => {
  const ctx = useTestServer();
  const get = (pathname: string, accept = "text/html") =>
    fetch(`${ctx.server.origin}${pathname}`, { headers: { accept }, redirect: "manual" });

  it("answers a browser's GET /graphql with the IDE page, locked down by a CSP", async () => {
    const response = await get("/graphql");
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toMatch(/^text\/html/);
    expect(response.headers.get("content-security-policy")).toContain("frame-ancestors 'none'");
    expect(response.headers.get("cache-control")).toBe("no-cache");
    expect(await response.text()).toContain("/graphql-ide/assets/");
  });

  it("serves hashed bundle files with a long cache, and a missing one as 404", async () => {
    const ide = await get(`/graphql-ide/assets/${firstScript(IDE_ASSETS)}`, "*/*");
    expect(ide.status).toBe(200);
    expect(ide.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");
    const app = await get(`/app/assets/${firstScript(APP_ASSETS)}`, "*/*");
    expect(app.status).toBe(200);
    expect(app.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");
    expect((await get("/app/assets/missing.js", "*/*")).status).toBe(404);
  });

  it("serves the example app at /app/, for any page under it", async () => {
    expect((await get("/app")).headers.get("location")).toBe("/app/");
    for (const pathname of ["/app/", "/app/some/page"]) {
      const response = await get(pathname);
      expect(response.status).toBe(200);
      expect(response.headers.get("content-security-policy")).toContain("script-src 'self'");
      expect(await response.text()).toContain("/app/assets/");
    }
  });

  it("leaves CORS preflights for /graphql to the CORS middleware", async () => {
    const response = await fetch(ctx.server.url, {
      method: "OPTIONS",
      headers: {
        origin: "http://elsewhere.example.test",
        "access-control-request-method": "POST",
      },
    });
    // Not the router's automatic "Allow: GET, HEAD" answer.
    expect(response.headers.get("allow")).toBeNull();
    expect(response.headers.get("access-control-allow-origin")).toBeNull();
  });
});
