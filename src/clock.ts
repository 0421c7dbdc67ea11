/**
 * Where every rule that depends on time (token expiry, lockout windows, retention, key
 * rotation) reads the time. Production uses the system clock; tests move a manual clock instead
 * of sleeping, so expiry tests are exact and fast on any machine.
 */
export interface Clock {
  /** Milliseconds since the epoch, like Date.now(). */
  nowMs(): number;
}

export const systemClock: Clock = Object.freeze({ nowMs: () => Date.now() });

export function nowDate(clock: Clock): Date {
  return new Date(clock.nowMs());
}

/** Whole seconds since the epoch, as JWT claims count them. */
export function nowSeconds(clock: Clock): number {
  return Math.floor(clock.nowMs() / 1000);
}
