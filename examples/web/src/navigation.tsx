import { useSyncExternalStore, type MouseEvent } from "react";
import { APP_PATH } from "./account";

/** The pages of the signed-in app; the mail-link pages (account.tsx) are outside it. */
export type AppPage = "account" | "sessions" | "users";

const PATHS: Readonly<Record<AppPage, string>> = {
  account: `${APP_PATH}/`,
  sessions: `${APP_PATH}/sessions`,
  users: `${APP_PATH}/users`,
};

/** Any other path under /app/ is the account page, as it was before there were others. */
function pageOf(pathname: string): AppPage {
  const path = pathname.replace(/\/+$/, "");
  if (path === PATHS.sessions) return "sessions";
  if (path === PATHS.users) return "users";
  return "account";
}

/**
 * Three pages need no router: the address bar holds the page (so a reload or a shared link
 * opens it; the server answers every /app/ path with the app), and history.pushState moves
 * between them without a reload, which would cost a refresh of the access token.
 */
const listeners = new Set<() => void>();

function subscribe(listener: () => void): () => void {
  listeners.add(listener);
  window.addEventListener("popstate", listener);
  return () => {
    listeners.delete(listener);
    window.removeEventListener("popstate", listener);
  };
}

export function useCurrentPage(): AppPage {
  return pageOf(useSyncExternalStore(subscribe, () => window.location.pathname));
}

function navigate(page: AppPage): void {
  window.history.pushState(null, "", PATHS[page]);
  for (const listener of listeners) listener();
}

function NavLink(props: { page: AppPage; current: AppPage; children: string }) {
  function follow(event: MouseEvent<HTMLAnchorElement>) {
    // A click with a modifier (new tab, new window) is the browser's to handle.
    if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) {
      return;
    }
    event.preventDefault();
    navigate(props.page);
  }
  return (
    <a
      href={PATHS[props.page]}
      onClick={follow}
      aria-current={props.page === props.current ? "page" : undefined}
    >
      {props.children}
    </a>
  );
}

/**
 * Shown to a signed-in user. The users link only to administrators: the roles come from the
 * session (signin or the last refresh), and the server checks them again on every request.
 */
export function Navigation(props: { current: AppPage; isAdmin: boolean }) {
  return (
    <nav aria-label="Pages" className="pages">
      <NavLink page="account" current={props.current}>
        Account
      </NavLink>
      <NavLink page="sessions" current={props.current}>
        Your sessions
      </NavLink>
      {props.isAdmin && (
        <NavLink page="users" current={props.current}>
          Users
        </NavLink>
      )}
    </nav>
  );
}
