import { ApolloClient, ApolloLink, HttpLink, InMemoryCache } from "@apollo/client";
import { from, mergeMap, of } from "rxjs";
import { COOKIE_TRANSPORT_HEADERS, GRAPHQL_URL, freshAccessToken, sessionStore } from "./session";

declare module "@apollo/client" {
  interface DefaultContext {
    /** The access token this attempt was sent with, to tell a stale failure from a fresh one. */
    sentAccessToken?: string | null;
    /** Set on the one retry after a refresh, so a request is never retried twice. */
    retriedAfterRefresh?: boolean;
  }
}

/** Runs on every attempt, the retry included, so a retry carries the refreshed token. */
const authLink = new ApolloLink((operation, forward) => {
  const accessToken = sessionStore.accessToken();
  operation.setContext(({ headers }) => ({
    headers: {
      ...(headers as Record<string, string> | undefined),
      ...COOKIE_TRANSPORT_HEADERS,
      ...(accessToken ? { authorization: `Bearer ${accessToken}` } : {}),
    },
    sentAccessToken: accessToken,
  }));
  return forward(operation);
});

function isTokenExpired(result: ApolloLink.Result): boolean {
  if (!("errors" in result) || !result.errors) return false;
  return result.errors.some(
    (error) =>
      error.extensions?.code === "UNAUTHENTICATED" && error.extensions.reason === "TOKEN_EXPIRED",
  );
}

/**
 * An expired access token is refreshed once and the request retried once. Requests failing
 * together share that one refresh (see freshAccessToken). When the refresh fails, the session
 * store is signed out and the request's original error goes back to its caller.
 */
const refreshLink = new ApolloLink((operation, forward) =>
  forward(operation).pipe(
    mergeMap((result) => {
      const context = operation.getContext();
      if (context.retriedAfterRefresh || !isTokenExpired(result)) return of(result);
      return from(freshAccessToken(context.sentAccessToken ?? null)).pipe(
        mergeMap((token) => {
          if (token === null) return of(result);
          operation.setContext({ retriedAfterRefresh: true });
          return forward(operation);
        }),
      );
    }),
  ),
);

export function createApolloClient(): ApolloClient {
  return new ApolloClient({
    link: ApolloLink.from([
      refreshLink,
      authLink,
      // Same origin only: the refresh cookie is never offered to another site.
      new HttpLink({ uri: GRAPHQL_URL, credentials: "same-origin" }),
    ]),
    cache: new InMemoryCache(),
    // Apollo would hand a query the answer of an identical one already in flight, even when
    // that one was sent with another token (or none): after a sign-out, a field would show
    // the previous session's error instead of its own.
    queryDeduplication: false,
  });
}
