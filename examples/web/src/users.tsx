import { useMutation, useQuery } from "@apollo/client/react";
import { useState, type FormEvent } from "react";
import { describeError } from "./describe-error";
import { formatTime } from "./format";
import {
  DisableUserDocument,
  EnableUserDocument,
  UsersDocument,
  type UserRowFieldsFragment,
} from "./generated/graphql";

/** Small enough that a handful of accounts already shows the paging. */
export const USERS_PAGE_SIZE = 10;

type Outcome = { readonly ok: boolean; readonly text: string };

function UserRow(props: {
  user: UserRowFieldsFragment;
  isSelf: boolean;
  onOutcome: (outcome: Outcome) => void;
}) {
  const { user, onOutcome } = props;
  const [reason, setReason] = useState("");
  // Each answers the user's row fields: Apollo's cache updates this row without a refetch.
  const [disableUser, { loading: disabling }] = useMutation(DisableUserDocument);
  const [enableUser, { loading: enabling }] = useMutation(EnableUserDocument);

  async function disable() {
    try {
      const trimmed = reason.trim();
      await disableUser({ variables: { id: user.id, reason: trimmed || null } });
      setReason("");
      onOutcome({
        ok: true,
        text: `Disabled ${user.username}: their sessions ended and they cannot sign in.`,
      });
    } catch (failure) {
      onOutcome({ ok: false, text: `${user.username} not disabled: ${describeError(failure)}` });
    }
  }

  async function enable() {
    try {
      await enableUser({ variables: { id: user.id } });
      onOutcome({ ok: true, text: `Enabled ${user.username}: they can sign in again.` });
    } catch (failure) {
      onOutcome({ ok: false, text: `${user.username} not enabled: ${describeError(failure)}` });
    }
  }

  return (
    <tr data-testid="user" data-username={user.username}>
      <td>{user.username}</td>
      <td>{user.email}</td>
      <td>{user.roles.join(", ")}</td>
      <td data-testid="user-status">
        {user.disabled
          ? `Disabled${user.disabledReason ? `: ${user.disabledReason}` : ""}`
          : "Active"}
      </td>
      <td>{user.lastSigninAt ? formatTime(user.lastSigninAt) : "Never"}</td>
      <td className="actions">
        {props.isSelf ? (
          // The server refuses it too (CANNOT_DISABLE_SELF); no button that can only fail.
          "You"
        ) : user.disabled ? (
          <button type="button" onClick={() => void enable()} disabled={enabling}>
            Enable
          </button>
        ) : (
          <>
            <input
              aria-label={`Reason to disable ${user.username}`}
              placeholder="Reason (optional)"
              value={reason}
              maxLength={200}
              onChange={(e) => setReason(e.target.value)}
            />
            <button type="button" onClick={() => void disable()} disabled={disabling}>
              Disable
            </button>
          </>
        )}
      </td>
    </tr>
  );
}

/**
 * /app/users, for administrators: find an account by the start of its username or email, page
 * through the matches (the server's cursor, so a page never repeats or skips a row when
 * accounts are added meanwhile), disable or enable it.
 */
export function UsersPage(props: { viewerId: string }) {
  const [typed, setTyped] = useState("");
  const [search, setSearch] = useState("");
  // The cursor of the row before this page, and how many pages in we are (for "11–20 of 42").
  const [page, setPage] = useState<{ after: string | null; index: number }>({
    after: null,
    index: 0,
  });
  const [outcome, setOutcome] = useState<Outcome>();
  const { data, error, loading } = useQuery(UsersDocument, {
    variables: { first: USERS_PAGE_SIZE, after: page.after, search: search || null },
    // Who is disabled changes under other administrators: never an old page from the cache.
    fetchPolicy: "network-only",
  });

  function submit(event: FormEvent) {
    event.preventDefault();
    setOutcome(undefined);
    setSearch(typed.trim());
    setPage({ after: null, index: 0 });
  }

  const connection = data?.users;
  const rows = connection?.edges ?? [];
  const first = page.index * USERS_PAGE_SIZE + 1;
  return (
    <section aria-label="Users">
      <h2>Users</h2>
      <form role="search" aria-label="Search users" onSubmit={submit} className="inline">
        <label>
          Username or email starts with
          <input name="search" value={typed} onChange={(e) => setTyped(e.target.value)} />
        </label>
        <button type="submit">Search</button>
      </form>
      {loading && <p role="status">Loading users…</p>}
      {error && <p role="alert">Could not load users: {describeError(error)}</p>}
      {connection && (
        <>
          <p data-testid="users-range">
            {connection.totalCount === 0
              ? "No user matches."
              : `${first}–${first + rows.length - 1} of ${connection.totalCount}`}
          </p>
          <table className="listing">
            <thead>
              <tr>
                <th scope="col">Username</th>
                <th scope="col">Email</th>
                <th scope="col">Roles</th>
                <th scope="col">Status</th>
                <th scope="col">Last signin</th>
                <th scope="col">
                  <span className="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {rows.map(({ node }) => (
                <UserRow
                  key={node.id}
                  user={node}
                  isSelf={node.id === props.viewerId}
                  onOutcome={setOutcome}
                />
              ))}
            </tbody>
          </table>
          <p className="paging">
            <button
              type="button"
              onClick={() => setPage({ after: null, index: 0 })}
              disabled={page.after === null}
            >
              Back to first page
            </button>
            <button
              type="button"
              onClick={() =>
                setPage({ after: connection.pageInfo.endCursor ?? null, index: page.index + 1 })
              }
              disabled={!connection.pageInfo.hasNextPage}
            >
              Next page
            </button>
          </p>
        </>
      )}
      {outcome && <p role={outcome.ok ? "status" : "alert"}>{outcome.text}</p>}
    </section>
  );
}
