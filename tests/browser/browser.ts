import { existsSync, mkdirSync } from "node:fs";
import path from "node:path";
import {
  chromium,
  type Browser,
  type BrowserContext,
  type BrowserContextOptions,
  type Page,
} from "playwright-core";

/** Debian's Chromium: Playwright cannot download its own browser builds on this network. */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

/** Screenshots kept as test artifacts (gitignored). */
export const ARTIFACTS_DIR = path.resolve(__dirname, "..", "..", "test-results");

/**
 * Flags for a root user on a machine with no network but loopback: without the background
 * networking flags Chromium keeps trying to reach Google's services and fills the log with
 * refused connections.
 */
const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(
      `No Chromium at ${CHROMIUM_PATH}. Run scripts/install-chromium.sh (Debian's chromium) ` +
        "or set CHROMIUM_PATH.",
    );
  }
  return chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, args: CHROMIUM_ARGS });
}

/**
 * One Chromium for the file, and a fresh context (cookies, storage) for each test, closed
 * after it even when it fails. `newContext` opens another one for the test (a second device:
 * its own cookie jar), closed with it.
 */
export function useBrowserContext(viewport: { width: number; height: number }): {
  readonly context: BrowserContext;
  newContext(options?: BrowserContextOptions): Promise<BrowserContext>;
} {
  let browser: Browser | undefined;
  let contexts: BrowserContext[] = [];
  const open = async (options: BrowserContextOptions = {}) => {
    if (!browser) throw new Error("Chromium did not start");
    const context = await browser.newContext({ viewport, ...options });
    // Well under jest's timeout, so a stuck step fails with its own name.
    context.setDefaultTimeout(10_000);
    contexts.push(context);
    return context;
  };
  beforeAll(async () => {
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
  });
  beforeEach(async () => {
    await open();
  });
  afterEach(async () => {
    const closing = contexts;
    contexts = [];
    await Promise.all(closing.map((context) => context.close()));
  });
  return {
    get context(): BrowserContext {
      const context = contexts[0];
      if (!context) throw new Error("no browser context outside a test");
      return context;
    },
    newContext: open,
  };
}

export function artifactPath(fileName: string): string {
  mkdirSync(ARTIFACTS_DIR, { recursive: true });
  return path.join(ARTIFACTS_DIR, fileName);
}

/**
 * Collects what would show in the browser's console as a problem: uncaught errors, and console
 * errors (a failed load, a Content-Security-Policy violation).
 */
export function watchPageErrors(page: Page): { check(): void } {
  const errors: string[] = [];
  page.on("pageerror", (error) => errors.push(`uncaught: ${error.message}`));
  page.on("console", (message) => {
    if (message.type() === "error") errors.push(`console: ${message.text()}`);
  });
  return {
    check() {
      expect(errors).toEqual([]);
    },
  };
}

/**
 * The few page globals the functions evaluated in the browser use. Tests compile without the
 * DOM library (they run in Node), so each such function casts globalThis to this.
 */
export interface PageGlobals {
  document: {
    cookie: string;
    querySelector(selector: string): PageElement | null;
    querySelectorAll(selector: string): ArrayLike<PageElement>;
  };
  localStorage: StorageLike;
  sessionStorage: StorageLike;
}

export interface PageElement {
  textContent: string | null;
  getAttribute(name: string): string | null;
  /** CodeMirror 5 hangs its editor instance on its wrapper element. */
  CodeMirror?: { getValue(): string };
}

interface StorageLike {
  readonly length: number;
  key(index: number): string | null;
  getItem(key: string): string | null;
}
