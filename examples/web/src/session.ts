import type { ResultOf } from "@graphql-typed-document-node/core";
import { print, type FormattedExecutionResult } from "graphql";
import { RefreshSessionDocument, type SessionFieldsFragment } from "./generated/graphql";

export const GRAPHQL_URL = "/graphql";

/**
 * Sent with every request. It makes signin and refreshToken put the refresh token in an
 * httpOnly cookie instead of the response body, so no script on this page can ever read it.
 */
export const COOKIE_TRANSPORT_HEADERS: Readonly<Record<string, string>> = {
  "x-refresh-token-transport": "cookie",
};

export type Session = SessionFieldsFragment;

export type SessionState =
  | { readonly status: "restoring" }
  | { readonly status: "signed-out"; readonly reason?: string }
  | { readonly status: "signed-in"; readonly session: Session };

/**
 * The access token lives in this module's memory and nowhere else: not in localStorage or
 * sessionStorage, where an injected script could read it. A reload loses it, and the refresh
 * cookie brings it back (restoreSession).
 */
let state: SessionState = { status: "restoring" };
const listeners = new Set<() => void>();

function setState(next: SessionState): void {
  state = next;
  for (const listener of listeners) listener();
}

/** Shaped for React's useSyncExternalStore. */
export const sessionStore = {
  getState: (): SessionState => state,
  subscribe(listener: () => void): () => void {
    listeners.add(listener);
    return () => listeners.delete(listener);
  },
  accessToken: (): string | null =>
    state.status === "signed-in" ? state.session.accessToken : null,
  signedIn(session: Session): void {
    setState({ status: "signed-in", session });
  },
  signedOut(reason?: string): void {
    setState(reason === undefined ? { status: "signed-out" } : { status: "signed-out", reason });
  },
};

type RefreshOutcome = { ok: true; session: Session } | { ok: false; reason: string };

let inFlight: Promise<RefreshOutcome> | null = null;

/**
 * Trades the refresh cookie for a new access token (and a rotated cookie). Concurrent callers
 * share one request: the server treats a second use of the same refresh token as theft and
 * ends the whole session, so two parallel refreshes would sign the user out.
 *
 * The server refusing (expired, revoked, reused, no cookie) signs the user out. A network
 * failure does not: the cookie may still be good, so a signed-in user stays signed in.
 */
export function refreshSession(): Promise<RefreshOutcome> {
  inFlight ??= acrossTabs(requestRefresh).finally(() => {
    inFlight = null;
  });
  return inFlight;
}

/**
 * Other tabs of this app share the cookie, so they must not refresh at the same moment either.
 * A Web Lock makes them take turns; each then sends the cookie the previous one set.
 */
async function acrossTabs(task: () => Promise<RefreshOutcome>): Promise<RefreshOutcome> {
  if (!("locks" in navigator)) return task();
  return navigator.locks.request("graphql-jwt-auth:refresh", task);
}

async function requestRefresh(): Promise<RefreshOutcome> {
  let body: FormattedExecutionResult<ResultOf<typeof RefreshSessionDocument>>;
  try {
    const response = await fetch(GRAPHQL_URL, {
      method: "POST",
      // The cookie is scoped to /graphql on this origin; nothing is sent cross-site.
      credentials: "same-origin",
      headers: { "content-type": "application/json", ...COOKIE_TRANSPORT_HEADERS },
      body: JSON.stringify({
        operationName: "RefreshSession",
        query: print(RefreshSessionDocument),
      }),
    });
    body = (await response.json()) as typeof body;
  } catch {
    if (state.status === "restoring") sessionStore.signedOut("SERVER_UNREACHABLE");
    return { ok: false, reason: "SERVER_UNREACHABLE" };
  }
  const session = body.data?.refreshToken;
  if (session) {
    sessionStore.signedIn(session);
    return { ok: true, session };
  }
  const error = body.errors?.[0]?.extensions;
  const reason = String(error?.reason ?? error?.code ?? "REFRESH_FAILED");
  // Coming back to the page without a session is not something to report.
  sessionStore.signedOut(state.status === "restoring" ? undefined : reason);
  return { ok: false, reason };
}

/** On page load: a refresh cookie from an earlier visit restores the session silently. */
export function restoreSession(): Promise<RefreshOutcome> {
  return refreshSession();
}

/**
 * A fresh access token for a request that was sent with `sentWith` and came back expired.
 * When another request has refreshed in the meantime, its token is used without refreshing
 * again: the cookie it would send is already spent.
 */
export async function freshAccessToken(sentWith: string | null): Promise<string | null> {
  const current = sessionStore.accessToken();
  if (current !== null && current !== sentWith) return current;
  if (state.status !== "signed-in") return null;
  const outcome = await refreshSession();
  return outcome.ok ? outcome.session.accessToken : null;
}
