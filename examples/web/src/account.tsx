import { useMutation } from "@apollo/client/react";
import { useEffect, useRef, useState, type FormEvent, type ReactNode } from "react";
import { describeError } from "./describe-error";
import {
  ChangePasswordDocument,
  RequestPasswordResetDocument,
  RequestVerificationEmailDocument,
  ResendVerificationEmailDocument,
  ResetPasswordDocument,
  VerifyEmailDocument,
} from "./generated/graphql";
import { sessionStore, type Session } from "./session";

export const APP_PATH = "/app";

/**
 * The token of a mail link, read once, then taken out of the address bar and the history: it
 * must not stay where the next person at this browser, or a screenshot, finds it.
 */
function takeTokenFromUrl(): string {
  const token = new URLSearchParams(window.location.search).get("token") ?? "";
  if (window.location.search) {
    window.history.replaceState(null, "", window.location.pathname);
  }
  return token;
}

function Page(props: { title: string; children: ReactNode }) {
  return (
    <section aria-label={props.title}>
      <h2>{props.title}</h2>
      {props.children}
      <p>
        <a href={`${APP_PATH}/`}>Back to the app</a>
      </p>
    </section>
  );
}

/** /app/verify-email?token=…: spends the token at once (a GET by a mail scanner does not). */
function VerifyEmailPage() {
  const [token] = useState(takeTokenFromUrl);
  const [verifyEmail] = useMutation(VerifyEmailDocument);
  const [outcome, setOutcome] = useState<{ ok: boolean; text: string }>();
  const sent = useRef(false);

  useEffect(() => {
    // Once, even where React runs effects twice (StrictMode in development): the token is
    // single use.
    if (sent.current) return;
    sent.current = true;
    if (!token) {
      setOutcome({ ok: false, text: "This link has no token. Open the link from the email." });
      return;
    }
    verifyEmail({ variables: { token } }).then(
      ({ data }) =>
        setOutcome({
          ok: true,
          text: `Your email address ${data?.verifyEmail.email ?? ""} is verified.`,
        }),
      (error: unknown) => setOutcome({ ok: false, text: `Not verified: ${describeError(error)}` }),
    );
  }, [token, verifyEmail]);

  return (
    <Page title="Verify your email address">
      {outcome ? (
        <p role={outcome.ok ? "status" : "alert"}>{outcome.text}</p>
      ) : (
        <p role="status">Verifying…</p>
      )}
    </Page>
  );
}

/** /app/reset-password?token=…: a new password for the account the mail was sent to. */
function ResetPasswordPage() {
  const [token] = useState(takeTokenFromUrl);
  const [resetPassword, { loading }] = useMutation(ResetPasswordDocument);
  const [form, setForm] = useState({ password: "", confirm: "" });
  const [message, setMessage] = useState<{ ok: boolean; text: string }>();

  async function submit(event: FormEvent) {
    event.preventDefault();
    if (form.password !== form.confirm) {
      setMessage({ ok: false, text: "The two passwords differ." });
      return;
    }
    try {
      await resetPassword({ variables: { token, newPassword: form.password } });
      setMessage({
        ok: true,
        text: "Your password was changed and every session signed out. Sign in with the new password.",
      });
    } catch (error) {
      setMessage({ ok: false, text: `Reset failed: ${describeError(error)}` });
    }
  }

  return (
    <Page title="Choose a new password">
      {message?.ok ? (
        <p role="status">{message.text}</p>
      ) : (
        <form onSubmit={submit} aria-label="Reset password">
          <label>
            New password
            <input
              name="new-password"
              type="password"
              autoComplete="new-password"
              value={form.password}
              onChange={(e) => setForm({ ...form, password: e.target.value })}
            />
          </label>
          <label>
            Repeat it
            <input
              name="confirm-password"
              type="password"
              autoComplete="new-password"
              value={form.confirm}
              onChange={(e) => setForm({ ...form, confirm: e.target.value })}
            />
          </label>
          <button type="submit" disabled={loading || !token}>
            Set the new password
          </button>
          {!token && <p role="alert">This link has no token. Open the link from the email.</p>}
          {message && <p role="alert">{message.text}</p>}
        </form>
      )}
    </Page>
  );
}

/** /app/forgot-password: the same answer whether or not an account has the address. */
function ForgotPasswordPage() {
  const [requestReset, { loading }] = useMutation(RequestPasswordResetDocument);
  const [email, setEmail] = useState("");
  const [message, setMessage] = useState<{ ok: boolean; text: string }>();

  async function submit(event: FormEvent) {
    event.preventDefault();
    try {
      await requestReset({ variables: { email } });
      setMessage({
        ok: true,
        text: `If an account has the address ${email}, we sent it a link to choose a new password.`,
      });
    } catch (error) {
      setMessage({ ok: false, text: `Could not send: ${describeError(error)}` });
    }
  }

  return (
    <Page title="Forgot your password?">
      <form onSubmit={submit} aria-label="Forgot password">
        <label>
          Email
          <input
            name="email"
            type="email"
            autoComplete="email"
            value={email}
            onChange={(e) => setEmail(e.target.value)}
          />
        </label>
        <button type="submit" disabled={loading}>
          Email me a link
        </button>
        {message && <p role={message.ok ? "status" : "alert"}>{message.text}</p>}
      </form>
    </Page>
  );
}

/** The page for a path under /app/ that a mail links to, or null for the main app. */
export function accountPageFor(pathname: string): ReactNode {
  switch (pathname.replace(/\/+$/, "")) {
    case `${APP_PATH}/verify-email`:
      return <VerifyEmailPage />;
    case `${APP_PATH}/reset-password`:
      return <ResetPasswordPage />;
    case `${APP_PATH}/forgot-password`:
      return <ForgotPasswordPage />;
    default:
      return null;
  }
}

/** Shown while the signed-in user's address is not verified. */
export function VerificationBanner({ session }: { session: Session }) {
  const [resend, { loading }] = useMutation(ResendVerificationEmailDocument);
  const [message, setMessage] = useState<string>();
  if (session.user.emailVerified) return null;

  async function send() {
    try {
      await resend();
      setMessage(`We sent a new link to ${session.user.email}.`);
    } catch (error) {
      setMessage(`Could not send: ${describeError(error)}`);
    }
  }

  return (
    <aside className="banner" aria-label="Email verification">
      <p>
        Your email address {session.user.email} is not verified yet: open the link we emailed you.{" "}
        <button type="button" onClick={send} disabled={loading}>
          Send the email again
        </button>
      </p>
      {message && <p role="status">{message}</p>}
    </aside>
  );
}

/** Signin said EMAIL_NOT_VERIFIED: a new link, without being signed in. */
export function RequestVerificationForm({ initialEmail }: { initialEmail: string }) {
  const [request, { loading }] = useMutation(RequestVerificationEmailDocument);
  const [email, setEmail] = useState(initialEmail);
  const [message, setMessage] = useState<string>();

  async function submit(event: FormEvent) {
    event.preventDefault();
    try {
      await request({ variables: { email } });
      setMessage(`If ${email} still needs verifying, we sent it a new link.`);
    } catch (error) {
      setMessage(`Could not send: ${describeError(error)}`);
    }
  }

  return (
    <form onSubmit={submit} aria-label="Send a new verification link">
      <label>
        Your email
        <input name="email" type="email" value={email} onChange={(e) => setEmail(e.target.value)} />
      </label>
      <button type="submit" disabled={loading}>
        Send a new verification link
      </button>
      {message && <p role="status">{message}</p>}
    </form>
  );
}

/** Every other session ends; this one carries on with the new pair the server returns. */
export function ChangePasswordForm() {
  const [changePassword, { loading }] = useMutation(ChangePasswordDocument);
  const [form, setForm] = useState({ current: "", next: "" });
  const [message, setMessage] = useState<{ ok: boolean; text: string }>();

  async function submit(event: FormEvent) {
    event.preventDefault();
    try {
      const { data } = await changePassword({
        variables: { currentPassword: form.current, newPassword: form.next },
      });
      setForm({ current: "", next: "" });
      setMessage({ ok: true, text: "Password changed. Every other session was signed out." });
      if (data) sessionStore.signedIn(data.changePassword);
    } catch (error) {
      setMessage({ ok: false, text: `Not changed: ${describeError(error)}` });
    }
  }

  return (
    <form onSubmit={submit} aria-label="Change password">
      <h2>Change password</h2>
      <label>
        Current password
        <input
          name="current-password"
          type="password"
          autoComplete="current-password"
          value={form.current}
          onChange={(e) => setForm({ ...form, current: e.target.value })}
        />
      </label>
      <label>
        New password
        <input
          name="new-password"
          type="password"
          autoComplete="new-password"
          value={form.next}
          onChange={(e) => setForm({ ...form, next: e.target.value })}
        />
      </label>
      <button type="submit" disabled={loading}>
        Change password
      </button>
      {message && <p role={message.ok ? "status" : "alert"}>{message.text}</p>}
    </form>
  );
}
