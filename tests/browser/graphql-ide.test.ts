import type { Page } from "playwright-core";
import { SignupDocument } from "../generated/graphql";
import { expectData, newAccount, useTestServer } from "../setup/kit";
import {
  artifactPath,
  watchPageErrors,
  useBrowserContext,
  type PageElement,
  type PageGlobals,
} from "./browser";

const QUERY_EDITOR = ".graphiql-query-editor .CodeMirror";
/** The variables and headers editors share a pane; the hidden one is the other tab's. */
const HEADERS_EDITOR = ".graphiql-editor-tool .graphiql-editor:not(.hidden) .CodeMirror";
const RESULT = ".result-window .CodeMirror";

/**
 * Runs the operation in the query editor once GraphiQL can: its editors (CodeMirror, loaded
 * lazily) exist, and it has parsed the operation, naming the tab after it. A click before
 * that is ignored, and a stale operation name fails the request.
 */
async function execute(page: Page, operationName: string): Promise<void> {
  await page.waitForFunction(
    (selectors) => {
      const { document } = globalThis as unknown as PageGlobals;
      return selectors.every((selector) => document.querySelector(selector)?.CodeMirror);
    },
    [QUERY_EDITOR, HEADERS_EDITOR, RESULT],
  );
  await page.getByRole("tab", { name: new RegExp(`^${operationName}`) }).waitFor();
  await page.getByRole("button", { name: /^Execute query/ }).click();
}

/** Replaces an editor's text the way a paste does: no auto-closed brackets or quotes. */
async function fillEditor(page: Page, selector: string, text: string): Promise<void> {
  await page.locator(selector).click();
  await page.keyboard.press("Control+A");
  await page.keyboard.insertText(text);
}

async function editorText(page: Page, selector: string): Promise<string> {
  return page
    .locator(selector)
    .evaluate((element) => (element as unknown as PageElement).CodeMirror?.getValue() ?? "");
}

/** The response pane's JSON, once it holds `expected`; what it holds instead if it never does. */
async function resultContaining(page: Page, expected: string): Promise<unknown> {
  try {
    await page.waitForFunction(
      ({ selector, needle }) => {
        const { document } = globalThis as unknown as PageGlobals;
        return document.querySelector(selector)?.CodeMirror?.getValue().includes(needle) ?? false;
      },
      { selector: RESULT, needle: expected },
    );
  } catch (error) {
    await page.screenshot({ path: artifactPath("ide-failure.png") });
    throw new Error(
      `the IDE's result never held ${JSON.stringify(expected)}; it shows: ` +
        `${await editorText(page, RESULT)} (screenshot: test-results/ide-failure.png)`,
      { cause: error },
    );
  }
  return JSON.parse(await editorText(page, RESULT)) as unknown;
}

describe("the GraphQL IDE at GET /graphql", () => {
  const ctx = useTestServer();
  const browsing = useBrowserContext({ width: 1400, height: 900 });

  it("loads from this server alone, with the schema's docs from introspection", async () => {
    const { server } = ctx;
    const page = await browsing.context.newPage();
    const pageErrors = watchPageErrors(page);
    const requested: string[] = [];
    page.on("request", (request) => requested.push(request.url()));

    await page.goto(`${server.origin}/graphql`);
    await page.getByRole("button", { name: "Show Documentation Explorer" }).click();
    await page.getByText("Root Types").waitFor();
    await page.getByRole("link", { name: "Mutation" }).click();
    await page.locator(".graphiql-doc-explorer-field-name", { hasText: /^signin$/ }).waitFor();

    // Nothing from a CDN: the page works on a machine without internet.
    expect(requested.filter((url) => !url.startsWith(`${server.origin}/`))).toEqual([]);
    pageErrors.check();
  });

  it("runs signin, then userContent with the access token pasted into the headers", async () => {
    const { server } = ctx;
    const account = newAccount("ide");
    expectData(await server.execute(SignupDocument, { input: account }));
    const page = await browsing.context.newPage();
    const pageErrors = watchPageErrors(page);

    // GraphiQL's own way of sharing a query: ?query= prefills the editor.
    const signin = `mutation Signin {
  signin(input: { username: "${account.username}", password: "${account.password}" }) {
    accessToken
    user { username roles }
  }
}`;
    await page.goto(`${server.origin}/graphql?query=${encodeURIComponent(signin)}`);
    await execute(page, "Signin");
    const signedIn = (await resultContaining(page, "accessToken")) as {
      data: { signin: { accessToken: string } };
    };
    const { accessToken } = signedIn.data.signin;
    expect(accessToken).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);

    await page.getByRole("button", { name: "Headers" }).click();
    await fillEditor(
      page,
      HEADERS_EDITOR,
      JSON.stringify({ Authorization: `Bearer ${accessToken}` }, null, 2),
    );
    await fillEditor(
      page,
      QUERY_EDITOR,
      "query UserContent {\n  userContent\n  me {\n    username\n    roles\n  }\n}",
    );
    await execute(page, "UserContent");

    expect(await resultContaining(page, "User Content.")).toEqual({
      data: { userContent: "User Content.", me: { username: account.username, roles: ["USER"] } },
    });
    await page.screenshot({ path: artifactPath("ide.png") });
    pageErrors.check();
  });

  it("leaves GraphQL clients' GET requests to GraphQL", async () => {
    const { server } = ctx;
    const response = await fetch(`${server.url}?query=${encodeURIComponent("{ publicContent }")}`, {
      headers: { accept: "application/json", "apollo-require-preflight": "true" },
    });
    expect(await response.json()).toEqual({ data: { publicContent: "Public Content." } });
    // curl and fetch send Accept: */*; they are clients, not people.
    const bare = await fetch(server.url);
    expect(bare.headers.get("content-type")).toMatch(/^application\/json/);
  });
});
