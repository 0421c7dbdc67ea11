import type { Logger } from "../logger";

/**
 * What happened to whom, as the services see it: one typed event per outcome that matters for
 * security or operations. The log writes the security-relevant ones as lines of their own
 * (msg "security event"), and the metrics count all of them. Events carry ids, addresses and
 * reason codes only: never a password, a token or a hash.
 */
export type SecurityEvent =
  | {
      type: "signin_succeeded";
      userId: string;
      clientIp: string;
    }
  | {
      type: "signin_failed";
      reason: "INVALID_CREDENTIALS" | "ACCOUNT_DISABLED" | "EMAIL_NOT_VERIFIED";
      /** Only when the name belongs to an account. */
      userId: string | null;
      clientIp: string;
    }
  | {
      type: "signin_throttled";
      scope: "account-address" | "address" | "account";
      retryAfterSeconds: number;
      userId: string | null;
      clientIp: string;
    }
  | {
      type: "lockout_started";
      scope: "account-address" | "address" | "account";
      userId: string | null;
      clientIp: string;
    }
  | { type: "refresh_rotated"; userId: string; sessionId: string; grace: boolean }
  | {
      type: "refresh_failed";
      reason: "REFRESH_TOKEN_INVALID" | "REFRESH_TOKEN_EXPIRED" | "REFRESH_TOKEN_REUSED";
    }
  | { type: "refresh_token_reused"; userId: string; sessionId: string; detail: string }
  | { type: "sessions_ended"; userId: string; count: number; reason: string; by: string | null }
  | { type: "roles_changed"; userId: string; roles: readonly string[]; by: string }
  | { type: "account_disabled"; userId: string; by: string }
  | { type: "account_enabled"; userId: string; by: string }
  | { type: "account_deleted"; userId: string; by: string }
  | { type: "password_changed"; userId: string; how: "change" | "reset" }
  | { type: "email_verified"; userId: string }
  | { type: "password_reset_requested"; clientIp: string }
  | { type: "signing_key_rotated"; kid: string };

export type SecurityEventType = SecurityEvent["type"];

export type SecurityEventListener = (event: SecurityEvent) => void;

/** Routine outcomes: counted, but the request log line already tells them. */
const NOT_LOGGED: ReadonlySet<SecurityEventType> = new Set(["signin_succeeded", "refresh_rotated"]);

export class SecurityEvents {
  private readonly listeners: SecurityEventListener[] = [];

  subscribe(listener: SecurityEventListener): void {
    this.listeners.push(listener);
  }

  emit(event: SecurityEvent): void {
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch {
        // An observer's failure (a log sink, a metric) must never fail the request.
      }
    }
  }
}

/** Writes each security-relevant event as its own log line. */
export function logSecurityEvents(events: SecurityEvents, logger: Logger): void {
  events.subscribe((event) => {
    if (NOT_LOGGED.has(event.type)) return;
    const level =
      event.type === "refresh_token_reused" || event.type === "lockout_started" ? "warn" : "info";
    const { type, ...facts } = event;
    logger[level]({ event: type, ...facts }, "security event");
  });
}
