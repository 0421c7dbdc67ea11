import { useMutation, useQuery } from "@apollo/client/react";
import { useState } from "react";
import { describeError } from "./describe-error";
import { formatTime } from "./format";
import {
  MySessionsDocument,
  RevokeOtherSessionsDocument,
  RevokeSessionDocument,
  type SessionRowFieldsFragment,
} from "./generated/graphql";

type Outcome = { readonly ok: boolean; readonly text: string };

const BROWSERS: ReadonlyArray<readonly [RegExp, string]> = [
  // Order matters: Edge and Opera say "Chrome", Chrome says "Safari".
  [/Edg\//, "Edge"],
  [/OPR\//, "Opera"],
  [/Firefox\//, "Firefox"],
  [/Chrom(e|ium)\//, "Chrome"],
  [/Safari\//, "Safari"],
];
const SYSTEMS: ReadonlyArray<readonly [RegExp, string]> = [
  [/Android/, "Android"],
  [/iPhone|iPad/, "iOS"],
  [/Windows/, "Windows"],
  [/Mac OS X|Macintosh/, "macOS"],
  [/CrOS/, "ChromeOS"],
  [/Linux/, "Linux"],
];

/**
 * "Chrome on Linux" from a User-Agent, which is what a person recognises their device by; the
 * full string stays in the cell's tooltip. A guess, and only a label: nothing depends on it.
 */
export function describeDevice(userAgent: string | null | undefined): string {
  if (!userAgent) return "Unknown device";
  const browser = BROWSERS.find(([pattern]) => pattern.test(userAgent))?.[1];
  const system = SYSTEMS.find(([pattern]) => pattern.test(userAgent))?.[1];
  if (browser && system) return `${browser} on ${system}`;
  return browser ?? system ?? userAgent;
}

function SessionRow(props: {
  session: SessionRowFieldsFragment;
  ending: boolean;
  onEnd: (session: SessionRowFieldsFragment) => void;
}) {
  const { session } = props;
  const ip = session.ipAtLastRefresh ?? session.ipAtSignin ?? "unknown";
  const signedInFrom =
    session.ipAtSignin && session.ipAtSignin !== ip
      ? ` (signed in from ${session.ipAtSignin})`
      : "";
  return (
    <tr data-testid="session" data-current={session.current ? "true" : "false"}>
      <td title={session.userAgent ?? undefined}>
        {describeDevice(session.userAgent)}
        {session.current && <strong className="current"> This browser</strong>}
      </td>
      <td>
        {ip}
        {signedInFrom}
      </td>
      <td>{formatTime(session.createdAt)}</td>
      <td>{formatTime(session.lastUsedAt)}</td>
      <td>
        {session.current ? (
          // Ending this one is signing out, which also clears the cookie: the Sign out button.
          "Sign out to end"
        ) : (
          <button type="button" onClick={() => props.onEnd(session)} disabled={props.ending}>
            End session
          </button>
        )}
      </td>
    </tr>
  );
}

/** /app/sessions: where the caller is signed in, and ending any of it but this browser. */
export function SessionsPage() {
  // network-only: a session another device just started or ended must show on every visit.
  const { data, error, loading, refetch } = useQuery(MySessionsDocument, {
    fetchPolicy: "network-only",
  });
  const [revokeSession] = useMutation(RevokeSessionDocument);
  const [revokeOtherSessions, { loading: endingOthers }] = useMutation(RevokeOtherSessionsDocument);
  const [ending, setEnding] = useState<string | null>(null);
  const [outcome, setOutcome] = useState<Outcome>();

  // A failed reload shows as the query's error; it must not also be an unhandled rejection.
  const reload = () =>
    refetch().then(
      () => undefined,
      () => undefined,
    );

  async function endOne(session: SessionRowFieldsFragment) {
    setEnding(session.id);
    setOutcome(undefined);
    try {
      await revokeSession({ variables: { id: session.id } });
      setOutcome({ ok: true, text: `Ended the session of ${describeDevice(session.userAgent)}.` });
    } catch (failure) {
      setOutcome({ ok: false, text: `Not ended: ${describeError(failure)}` });
    } finally {
      setEnding(null);
    }
    await reload();
  }

  async function endOthers() {
    setOutcome(undefined);
    try {
      const { data: ended } = await revokeOtherSessions();
      const count = ended?.revokeOtherSessions ?? 0;
      setOutcome({
        ok: true,
        text: `Ended ${count} other ${count === 1 ? "session" : "sessions"}.`,
      });
    } catch (failure) {
      setOutcome({ ok: false, text: `Not ended: ${describeError(failure)}` });
    }
    await reload();
  }

  const sessions = data?.mySessions ?? [];
  const others = sessions.filter((session) => !session.current).length;
  return (
    <section aria-label="Your sessions">
      <h2>Your sessions</h2>
      <p>
        Every browser or app signed in to your account, newest first. An ended session cannot
        refresh: that device is signed out when its access token next expires (within minutes).
      </p>
      {loading && !data && <p role="status">Loading your sessions…</p>}
      {error && <p role="alert">Could not load your sessions: {describeError(error)}</p>}
      {data && (
        <table className="listing">
          <thead>
            <tr>
              <th scope="col">Device</th>
              <th scope="col">IP address</th>
              <th scope="col">Signed in</th>
              <th scope="col">Last used</th>
              <th scope="col">
                <span className="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {sessions.map((session) => (
              <SessionRow
                key={session.id}
                session={session}
                ending={ending === session.id}
                onEnd={(chosen) => void endOne(chosen)}
              />
            ))}
          </tbody>
        </table>
      )}
      <p>
        <button
          type="button"
          onClick={() => void endOthers()}
          disabled={endingOthers || !data || others === 0}
        >
          End all other sessions
        </button>
      </p>
      {outcome && <p role={outcome.ok ? "status" : "alert"}>{outcome.text}</p>}
    </section>
  );
}
