import { randomBytes } from "node:crypto";
import type { Clock } from "../clock";
import {
  collectionHeads,
  RecordContentionError,
  VersionedRecords,
  type Change,
} from "../db/versioned-records";
import { HEAD_COLLECTIONS } from "../entities/versioned-record.entity";

/**
 * Signin brute-force protection, shared by every instance through the database, with three
 * limits (OWASP Authentication Cheat Sheet; NIST SP 800-63B 5.2.2):
 *
 * - per (account, client address): maxFailuresPerPair in the window, then a lockout that
 *   doubles with each further failure. This is what stops a guesser, and it locks only the
 *   guesser's address: the owner signing in from elsewhere is not affected.
 * - per client address, across accounts: maxFailuresPerIp in the window (password spraying).
 * - per account, across addresses: maxFailuresPerAccount per hour (a distributed attack).
 *   Past it the account refuses addresses that have not signed in to it successfully within
 *   knownAddressDays, so its owner's usual addresses keep working while the attack goes on.
 *
 * An attempt is recorded as a failure *before* bcrypt runs, by compare-and-set on the
 * account's record and on the address's record, and is taken back when the password turns out
 * right. Concurrent attempts therefore see each other, and however they are sent (parallel,
 * batched, aliased) no more than the limit reach bcrypt. A correct password never counts.
 */

export interface ThrottlePolicy {
  readonly maxFailuresPerPair: number;
  readonly maxFailuresPerIp: number;
  readonly maxFailuresPerAccount: number;
  readonly windowSeconds: number;
  /** First lockout; each further failure doubles it, up to lockoutMaxSeconds. */
  readonly lockoutBaseSeconds: number;
  readonly lockoutMaxSeconds: number;
  readonly knownAddressDays: number;
}

export type LockoutScope = "account-address" | "address" | "account";

export type ThrottleDecision =
  | { readonly allowed: true; readonly ticket: AttemptTicket }
  | { readonly allowed: false; readonly retryAfterSeconds: number; readonly scope: LockoutScope };

export interface AttemptTicket {
  readonly id: string;
  readonly accountKey: string;
  readonly ip: string;
  /** The limit this attempt, if it fails, brings to a lockout (null: none yet). */
  readonly locksIfFailed: LockoutScope | null;
}

type Admission = { readonly admitted: true; readonly reachesLimit: boolean } | ThrottleDecision;

interface Attempt {
  readonly id: string;
  readonly atMs: number;
}

/*
 * Addresses are values, never field names: "127.0.0.1" as a key would be a dotted path to
 * MongoDB-compatible servers.
 */
interface PairFailures {
  readonly ip: string;
  readonly attempts: readonly Attempt[];
}

interface KnownAddress {
  readonly ip: string;
  /** Last successful signin from it. */
  readonly atMs: number;
}

interface AccountState {
  readonly expiresAtMs: number;
  /** Failures (and attempts still checking their password) per client address, in the window. */
  readonly pairs: readonly PairFailures[];
  /** Failures from any address within the last hour. */
  readonly recent: readonly Attempt[];
  readonly known: readonly KnownAddress[];
}

interface AddressState {
  readonly expiresAtMs: number;
  readonly attempts: readonly Attempt[];
}

const HOUR_MS = 3_600_000;
/** Addresses remembered per account; the oldest is forgotten first. */
const MAX_KNOWN_ADDRESSES = 20;

export class SigninThrottle {
  private readonly records: VersionedRecords;

  constructor(
    private readonly policy: ThrottlePolicy,
    private readonly clock: Clock,
  ) {
    this.records = new VersionedRecords(clock, collectionHeads(HEAD_COLLECTIONS.signinThrottle));
  }

  /**
   * Records an attempt for `accountKey` (an account id, or the name tried when no account has
   * it) from `ip`, or refuses it without recording when a limit is reached.
   */
  async begin(accountKey: string, ip: string): Promise<ThrottleDecision> {
    const ticket = { id: randomBytes(9).toString("base64url"), accountKey, ip };
    const now = this.clock.nowMs();
    try {
      const [account, address] = await Promise.all([
        this.records.update(accountRecord(accountKey), (state: AccountState | undefined) =>
          this.admitToAccount(state, ticket, now),
        ),
        this.records.update(addressRecord(ip), (state: AddressState | undefined) =>
          this.admitToAddress(state, ticket, now),
        ),
      ]);
      if ("admitted" in account && "admitted" in address) {
        const locksIfFailed = account.reachesLimit
          ? "account-address"
          : address.reachesLimit
            ? "address"
            : null;
        return { allowed: true, ticket: { ...ticket, locksIfFailed } };
      }
      const refusal = "admitted" in account ? (address as ThrottleDecision) : account;
      // One side admitted the attempt and the other refused it: take it back where admitted.
      await this.forget(ticket, { clearPair: false, rememberAddress: false });
      return refusal;
    } catch (error) {
      if (!(error instanceof RecordContentionError)) throw error;
      // Dozens of attempts at once on one account or address: an attack, not a person.
      await this.forget(ticket, { clearPair: false, rememberAddress: false }).catch(
        () => undefined,
      );
      return { allowed: false, retryAfterSeconds: 1, scope: "address" };
    }
  }

  /** The password was right: the attempt never counts, and the pair's failures are cleared. */
  async succeeded(ticket: AttemptTicket): Promise<void> {
    await this.forget(ticket, { clearPair: true, rememberAddress: true });
  }

  /** Forgets every failure recorded against the account (a password reset unlocks it). */
  async clearAccount(accountKey: string): Promise<void> {
    await this.records.update<AccountState, void>(accountRecord(accountKey), (state) =>
      state
        ? { next: { ...state, pairs: [], recent: [] }, result: undefined }
        : { result: undefined },
    );
  }

  /** Removes everything kept about an account (it was deleted). */
  async removeAccount(accountKey: string): Promise<void> {
    await this.records.remove(accountRecord(accountKey));
  }

  private async forget(
    ticket: Pick<AttemptTicket, "id" | "accountKey" | "ip">,
    options: { clearPair: boolean; rememberAddress: boolean },
  ): Promise<void> {
    const now = this.clock.nowMs();
    await Promise.all([
      this.records.update<AccountState, void>(accountRecord(ticket.accountKey), (state) => {
        if (!state) return { result: undefined };
        const pairs = state.pairs
          .map((pair) =>
            pair.ip === ticket.ip
              ? { ip: pair.ip, attempts: pair.attempts.filter((a) => a.id !== ticket.id) }
              : pair,
          )
          .filter(
            (pair) => pair.attempts.length > 0 && !(options.clearPair && pair.ip === ticket.ip),
          );
        const known = options.rememberAddress
          ? rememberAddress(state.known, ticket.ip, now)
          : state.known;
        const next: AccountState = {
          pairs,
          recent: state.recent.filter((a) => a.id !== ticket.id),
          known,
          expiresAtMs: this.accountExpiry(pairs, known, now),
        };
        return { next, result: undefined };
      }),
      this.records.update<AddressState, void>(addressRecord(ticket.ip), (state) =>
        state
          ? {
              next: { ...state, attempts: state.attempts.filter((a) => a.id !== ticket.id) },
              result: undefined,
            }
          : { result: undefined },
      ),
    ]);
  }

  private admitToAccount(
    state: AccountState | undefined,
    ticket: Pick<AttemptTicket, "id" | "ip">,
    now: number,
  ): Change<AccountState, Admission> {
    const windowStart = now - this.policy.windowSeconds * 1000;
    const pairs = prunePairs(state?.pairs ?? [], windowStart);
    const pair = pairs.find((p) => p.ip === ticket.ip)?.attempts ?? [];
    const recent = (state?.recent ?? []).filter((a) => a.atMs > now - HOUR_MS);
    const known = state?.known ?? [];

    const pairWait = this.lockedFor(pair, this.policy.maxFailuresPerPair, now);
    if (pairWait > 0) {
      return { result: { allowed: false, retryAfterSeconds: pairWait, scope: "account-address" } };
    }
    const knownSince = now - this.policy.knownAddressDays * 86_400_000;
    const knownAddress = known.some((k) => k.ip === ticket.ip && k.atMs > knownSince);
    if (recent.length >= this.policy.maxFailuresPerAccount && !knownAddress) {
      // Until enough of the hour's failures age out to bring the count under the cap.
      const freeingAt = recent[recent.length - this.policy.maxFailuresPerAccount]!.atMs + HOUR_MS;
      return {
        result: {
          allowed: false,
          retryAfterSeconds: Math.max(1, Math.ceil((freeingAt - now) / 1000)),
          scope: "account",
        },
      };
    }
    const attempt = { id: ticket.id, atMs: now };
    const nextPairs = [
      ...pairs.filter((p) => p.ip !== ticket.ip),
      { ip: ticket.ip, attempts: [...pair, attempt] },
    ];
    // The hour's list only needs to reach the cap; older entries beyond it change nothing.
    const nextRecent = [...recent, attempt].slice(-(this.policy.maxFailuresPerAccount + 1));
    return {
      next: {
        pairs: nextPairs,
        recent: nextRecent,
        known,
        expiresAtMs: this.accountExpiry(nextPairs, known, now),
      },
      result: { admitted: true, reachesLimit: pair.length + 1 >= this.policy.maxFailuresPerPair },
    };
  }

  private admitToAddress(
    state: AddressState | undefined,
    ticket: Pick<AttemptTicket, "id" | "ip">,
    now: number,
  ): Change<AddressState, Admission> {
    const windowStart = now - this.policy.windowSeconds * 1000;
    const attempts = (state?.attempts ?? []).filter((a) => a.atMs > windowStart);
    const wait = this.lockedFor(attempts, this.policy.maxFailuresPerIp, now);
    if (wait > 0) return { result: { allowed: false, retryAfterSeconds: wait, scope: "address" } };
    const next = [...attempts, { id: ticket.id, atMs: now }].slice(
      -(this.policy.maxFailuresPerIp + 32),
    );
    return {
      next: { attempts: next, expiresAtMs: now + this.lockWindowMs() },
      result: { admitted: true, reachesLimit: attempts.length + 1 >= this.policy.maxFailuresPerIp },
    };
  }

  /** Seconds until a key with these failures in the window may try again; 0 when it may now. */
  private lockedFor(failures: readonly Attempt[], maxFailures: number, now: number): number {
    if (failures.length < maxFailures) return 0;
    const latest = Math.max(...failures.map((a) => a.atMs));
    const exponent = Math.min(failures.length - maxFailures, 30);
    const lockSeconds = Math.min(
      this.policy.lockoutBaseSeconds * 2 ** exponent,
      this.policy.lockoutMaxSeconds,
    );
    const lockedUntil = latest + lockSeconds * 1000;
    return lockedUntil > now ? Math.ceil((lockedUntil - now) / 1000) : 0;
  }

  private lockWindowMs(): number {
    return Math.max(this.policy.windowSeconds, this.policy.lockoutMaxSeconds) * 1000;
  }

  private accountExpiry(
    pairs: readonly PairFailures[],
    known: readonly KnownAddress[],
    now: number,
  ): number {
    const lastKnown = Math.max(0, ...known.map((k) => k.atMs));
    const failureRelevance = pairs.length > 0 ? now + this.lockWindowMs() : 0;
    return Math.max(
      now + HOUR_MS,
      failureRelevance,
      lastKnown + this.policy.knownAddressDays * 86_400_000,
    );
  }
}

function accountRecord(accountKey: string): string {
  return `account:${accountKey}`;
}

function addressRecord(ip: string): string {
  return `ip:${ip}`;
}

function prunePairs(pairs: readonly PairFailures[], windowStart: number): PairFailures[] {
  return pairs
    .map((pair) => ({ ip: pair.ip, attempts: pair.attempts.filter((a) => a.atMs > windowStart) }))
    .filter((pair) => pair.attempts.length > 0);
}

function rememberAddress(known: readonly KnownAddress[], ip: string, now: number): KnownAddress[] {
  return [{ ip, atMs: now }, ...known.filter((k) => k.ip !== ip)].slice(0, MAX_KNOWN_ADDRESSES);
}
