import { useApolloClient, useMutation, useQuery } from "@apollo/client/react";
import type { TypedDocumentNode } from "@graphql-typed-document-node/core";
import { useEffect, useState, useSyncExternalStore, type FormEvent } from "react";
import {
  AdminContentDocument,
  ModContentDocument,
  PublicContentDocument,
  SigninDocument,
  SignoutDocument,
  SignupDocument,
  UserContentDocument,
} from "./generated/graphql";
import {
  accountPageFor,
  APP_PATH,
  ChangePasswordForm,
  RequestVerificationForm,
  VerificationBanner,
} from "./account";
import { describeError, reasonOf } from "./describe-error";
import { Navigation, useCurrentPage } from "./navigation";
import { restoreSession, sessionStore, type Session } from "./session";
import { SessionsPage } from "./sessions";
import { UsersPage } from "./users";

type ContentField = "publicContent" | "userContent" | "modContent" | "adminContent";

function ContentRow<F extends ContentField>(props: {
  field: F;
  document: TypedDocumentNode<{ [K in F]: string }, Record<string, never>>;
}) {
  // network-only: what the current token may read, never what an earlier user saw.
  const { data, error, loading } = useQuery(props.document, {
    fetchPolicy: "network-only",
    errorPolicy: "all",
  });
  const value = data?.[props.field];
  const state = loading ? "loading" : error ? "error" : "data";
  return (
    <tr data-testid={`content-${props.field}`} data-state={state}>
      <th scope="row">
        <code>{props.field}</code>
      </th>
      <td className={state}>{loading ? "…" : error ? describeError(error) : (value ?? "")}</td>
    </tr>
  );
}

/** Four queries, four requests, all sent at once when the panel mounts. */
function ContentPanel() {
  return (
    <table className="content">
      <tbody>
        <ContentRow field="publicContent" document={PublicContentDocument} />
        <ContentRow field="userContent" document={UserContentDocument} />
        <ContentRow field="modContent" document={ModContentDocument} />
        <ContentRow field="adminContent" document={AdminContentDocument} />
      </tbody>
    </table>
  );
}

function SignupForm() {
  const [signup, { loading }] = useMutation(SignupDocument);
  const [message, setMessage] = useState<string>();
  const [form, setForm] = useState({ username: "", email: "", password: "" });

  async function submit(event: FormEvent) {
    event.preventDefault();
    setMessage(undefined);
    try {
      const { data } = await signup({ variables: { input: form } });
      setMessage(
        `Account ${data?.signup.username ?? ""} created. We sent a link to ${form.email} to verify it. Sign in below.`,
      );
    } catch (error) {
      setMessage(`Sign-up failed: ${describeError(error)}`);
    }
  }

  return (
    <form onSubmit={submit} aria-label="Sign up">
      <h2>Sign up</h2>
      <label>
        Username
        <input
          name="username"
          autoComplete="username"
          value={form.username}
          onChange={(e) => setForm({ ...form, username: e.target.value })}
        />
      </label>
      <label>
        Email
        <input
          name="email"
          type="email"
          autoComplete="email"
          value={form.email}
          onChange={(e) => setForm({ ...form, email: e.target.value })}
        />
      </label>
      <label>
        Password
        <input
          name="password"
          type="password"
          autoComplete="new-password"
          value={form.password}
          onChange={(e) => setForm({ ...form, password: e.target.value })}
        />
      </label>
      <button type="submit" disabled={loading}>
        Sign up
      </button>
      {message && <p role="status">{message}</p>}
    </form>
  );
}

function SigninForm() {
  const [signin, { loading }] = useMutation(SigninDocument);
  const [message, setMessage] = useState<string>();
  const [unverified, setUnverified] = useState(false);
  const [form, setForm] = useState({ username: "", password: "" });

  async function submit(event: FormEvent) {
    event.preventDefault();
    setMessage(undefined);
    setUnverified(false);
    try {
      const { data } = await signin({ variables: { input: form } });
      if (data) sessionStore.signedIn(data.signin);
    } catch (error) {
      setMessage(`Sign-in failed: ${describeError(error)}`);
      setUnverified(reasonOf(error) === "EMAIL_NOT_VERIFIED");
    }
  }

  return (
    <form onSubmit={submit} aria-label="Sign in">
      <h2>Sign in</h2>
      <label>
        Username or email
        <input
          name="username"
          autoComplete="username"
          value={form.username}
          onChange={(e) => setForm({ ...form, username: e.target.value })}
        />
      </label>
      <label>
        Password
        <input
          name="password"
          type="password"
          autoComplete="current-password"
          value={form.password}
          onChange={(e) => setForm({ ...form, password: e.target.value })}
        />
      </label>
      <button type="submit" disabled={loading}>
        Sign in
      </button>
      <a href={`${APP_PATH}/forgot-password`}>Forgot your password?</a>
      {message && <p role="alert">{message}</p>}
      {unverified && (
        <RequestVerificationForm initialEmail={form.username.includes("@") ? form.username : ""} />
      )}
    </form>
  );
}

function SignedIn({ session }: { session: Session }) {
  const client = useApolloClient();
  const [signout, { loading }] = useMutation(SignoutDocument);

  async function signOut() {
    try {
      // Ends the session on the server and clears the cookie.
      await signout();
    } finally {
      // Nothing one user could read stays cached for the next. Cleared before the content
      // remounts: clearing under queries in flight would fail them.
      await client.clearStore();
      sessionStore.signedOut();
    }
  }

  const expires = new Date(session.accessTokenExpiresAt).toLocaleTimeString();
  return (
    <section className="session" aria-label="Session">
      <p>
        Signed in as <strong data-testid="username">{session.user.username}</strong> (
        {session.user.roles.join(", ")}). Access token (kept in memory only) valid until {expires};
        it is renewed from the refresh cookie when it expires.
      </p>
      <button type="button" onClick={signOut} disabled={loading}>
        Sign out
      </button>
      <VerificationBanner session={session} />
      <ChangePasswordForm />
    </section>
  );
}

const REASONS: Record<string, string> = {
  SERVER_UNREACHABLE: "The server could not be reached.",
  REFRESH_TOKEN_EXPIRED: "Your session expired. Sign in again.",
  REFRESH_TOKEN_REUSED: "Your session was ended for safety. Sign in again.",
  REFRESH_TOKEN_INVALID: "Your session ended. Sign in again.",
  ACCOUNT_DISABLED: "An administrator disabled your account.",
};

/** The pages mail links open (/app/verify-email, …), or the app itself. */
export function App() {
  const page = accountPageFor(window.location.pathname);
  if (page) {
    return (
      <main>
        <h1>graphql-jwt-auth · example app</h1>
        {page}
      </main>
    );
  }
  return <Home />;
}

function Home() {
  const state = useSyncExternalStore(sessionStore.subscribe, sessionStore.getState);
  const page = useCurrentPage();
  const [reloads, setReloads] = useState(0);

  useEffect(() => {
    void restoreSession();
  }, []);

  if (state.status === "restoring") {
    return (
      <main>
        <p role="status">Restoring your session…</p>
      </main>
    );
  }

  if (state.status === "signed-in" && page !== "account") {
    const { user } = state.session;
    const isAdmin = user.roles.includes("ADMIN");
    return (
      <main>
        <h1>graphql-jwt-auth · example app</h1>
        <Navigation current={page} isAdmin={isAdmin} />
        {/* Keyed by user: nothing one user loaded stays on screen for the next. */}
        {page === "sessions" ? (
          <SessionsPage key={user.id} />
        ) : isAdmin ? (
          <UsersPage key={user.id} viewerId={user.id} />
        ) : (
          <p role="alert">Only administrators can see this page.</p>
        )}
      </main>
    );
  }

  // Signed out, every page is this one: sign in (or up), then carry on to the page asked for.
  // A new user (or none) remounts the panel, so every field is fetched again with the new token.
  const viewer = state.status === "signed-in" ? state.session.user.id : "anonymous";
  return (
    <main>
      <h1>graphql-jwt-auth · example app</h1>
      {state.status === "signed-in" ? (
        <>
          <Navigation current={page} isAdmin={state.session.user.roles.includes("ADMIN")} />
          <SignedIn session={state.session} />
        </>
      ) : (
        <>
          {state.reason && <p role="alert">{REASONS[state.reason] ?? state.reason}</p>}
          <div className="forms">
            <SignupForm />
            <SigninForm />
          </div>
        </>
      )}
      <section aria-label="Content">
        <h2>
          What you may read{" "}
          <button type="button" onClick={() => setReloads((n) => n + 1)}>
            Reload content
          </button>
        </h2>
        <ContentPanel key={`${viewer}:${reloads}`} />
      </section>
    </main>
  );
}
