import type { Clock } from "../../src/clock";

/**
 * A clock the test moves: expiry, lockout windows and retention are tested by advancing it,
 * never by sleeping. Starts at the real time so tokens look ordinary to other verifiers.
 */
export class ManualClock implements Clock {
  private ms: number;

  constructor(start: number = Date.now()) {
    this.ms = start;
  }

  nowMs(): number {
    return this.ms;
  }

  advance(seconds: number): void {
    this.ms += seconds * 1000;
  }
}
