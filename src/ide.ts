import path from "node:path";
import { Router, type Request, type Response } from "express";
import { sendBundlePage, serveBundleAssets } from "./vite-bundle";

/** Where the bundle's files are served; ide/vite.config.mts builds with this as its base. */
export const IDE_ASSETS_PATH = "/graphql-ide";

/** ide/dist beside dist/ (compiled) or src/ (ts-jest): the output of `npm run build:ide`. */
export const DEFAULT_IDE_DIR = path.resolve(__dirname, "..", "ide", "dist");

export interface IdeRouterOptions {
  /** The built IDE: index.html and assets/ (`npm run build:ide`). */
  readonly ideDir?: string;
  /** Where the IDE page is answered; the GraphQL endpoint it talks to. */
  readonly graphqlPath?: string;
}

/**
 * The page runs mutations with whatever token the user pastes, so it must not be framed by
 * another site (clickjacking), and it loads nothing from anywhere but this server: every
 * script, style and font is in the bundle. GraphiQL sets inline styles, hence 'unsafe-inline'
 * for styles only.
 */
const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "font-src 'self' data:",
  "connect-src 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'none'",
].join("; ");

/**
 * A browser navigating to /graphql gets the IDE; GraphQL clients get GraphQL. An Accept header
 * that ranks JSON first or equal (curl's *\/*, fetch's default, every GraphQL client) is not a
 * person. A navigation with `?query=...` gets the IDE too, prefilled: that is how GraphiQL
 * links are shared, and such a GET could not run as GraphQL anyway (CSRF prevention refuses a
 * GET operation without a preflight header, which a navigation never has).
 */
function wantsIdePage(req: Request): boolean {
  const preferred = req.accepts([
    "application/json",
    "application/graphql-response+json",
    "text/html",
  ]);
  return preferred === "text/html";
}

/**
 * Serves the offline GraphiQL built from ide/: `GET <graphqlPath>` from a browser answers its
 * index.html, and its bundle is served under /graphql-ide/. Mount it before the GraphQL
 * middleware, and only when the IDE is enabled (GRAPHQL_IDE).
 */
export function ideRouter(options: IdeRouterOptions = {}): Router {
  const ideDir = options.ideDir ?? DEFAULT_IDE_DIR;
  const graphqlPath = options.graphqlPath ?? "/graphql";
  const router = Router();

  router.use(IDE_ASSETS_PATH, serveBundleAssets(ideDir));

  // router.use, not router.get: a route would make the router answer OPTIONS /graphql itself,
  // and CORS preflights would never reach the cors middleware.
  router.use(graphqlPath, (req: Request, res: Response, next) => {
    const isPageRequest = (req.method === "GET" || req.method === "HEAD") && req.path === "/";
    if (!isPageRequest || !wantsIdePage(req)) return next();
    res.vary("Accept");
    sendBundlePage(res, {
      distDir: ideDir,
      contentSecurityPolicy: CONTENT_SECURITY_POLICY,
      buildScript: "build:ide",
    });
  });

  return router;
}
