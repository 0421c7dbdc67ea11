import { createGraphiQLFetcher } from "@graphiql/toolkit";
import { GraphiQL } from "graphiql";
import "graphiql/style.css";
import { StrictMode } from "react";
import { createRoot } from "react-dom/client";

/**
 * Shown in the first tab until the user edits it. Comments only tell how to authenticate, since
 * the headers editor must hold plain JSON and cannot carry a hint of its own.
 */
const WALKTHROUGH = `# GraphiQL, served by graphql-jwt-auth itself: works offline.
#
# 1. Run Signin: the ▶ button, then pick "Signin".
# 2. Copy "accessToken" from the result into Headers below:
#      { "Authorization": "Bearer <accessToken>" }
# 3. Run UserContent.
#
# Token expired (reason TOKEN_EXPIRED)? Sign in again, or
# trade the refresh token: refreshToken(refreshToken: "...").
# Schema: the book icon, top left. Completion: Ctrl-Space.

mutation Signin {
  signin(input: { username: "alice", password: "s3cret-pass" }) {
    accessToken
    accessTokenExpiresAt
    refreshToken
    user {
      username
      roles
    }
  }
}

query UserContent {
  publicContent
  userContent
  me {
    username
    roles
  }
}
`;

/**
 * `?query=...&variables=...` prefills the editors, so a link can share a request. Not headers:
 * they carry tokens, which do not belong in URLs (history, logs, referrers).
 */
const params = new URLSearchParams(window.location.search);
const fromUrl = (name: string) => params.get(name) ?? undefined;

// Relative to this page's origin: the IDE only ever talks to the server that served it.
const fetcher = createGraphiQLFetcher({ url: "/graphql" });

const root = document.getElementById("root");
if (!root) throw new Error("index.html has no #root element");

createRoot(root).render(
  <StrictMode>
    <GraphiQL
      fetcher={fetcher}
      defaultQuery={WALKTHROUGH}
      query={fromUrl("query")}
      variables={fromUrl("variables")}
      defaultHeaders={"{}"}
      isHeadersEditorEnabled
      // Opens the headers tab, where the access token goes, instead of the variables tab.
      defaultEditorToolsVisibility="headers"
      // Headers hold bearer tokens: keep them out of localStorage, where any script could read them.
      shouldPersistHeaders={false}
    />
  </StrictMode>,
);
