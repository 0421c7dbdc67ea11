import type { Types } from "mongoose";
import { SigninAttemptModel } from "../entities/signin-attempt.entity";

export interface ThrottleRule {
  /** Failures allowed within the window before a lockout starts. */
  readonly maxFailures: number;
}

export interface ThrottlePolicy {
  readonly account: ThrottleRule;
  readonly ip: ThrottleRule;
  readonly windowSeconds: number;
  /** First lockout; each further failure doubles it, up to lockoutMaxSeconds. */
  readonly lockoutBaseSeconds: number;
  readonly lockoutMaxSeconds: number;
}

export type ThrottleDecision =
  | { readonly allowed: true; readonly ticket: AttemptTicket }
  | { readonly allowed: false; readonly retryAfterSeconds: number };

export interface AttemptTicket {
  readonly accountAttemptId: Types.ObjectId;
  readonly ipAttemptId: Types.ObjectId;
  readonly accountKey: string;
}

/**
 * Signin brute-force protection, shared by every instance through the database.
 *
 * An attempt is recorded *before* bcrypt runs and only then counted, and the count excludes
 * the attempt itself. Inserts are applied one after another by the database, so the k-th of
 * any number of concurrent attempts sees at least k-1 others: however the attempts are sent
 * (parallel requests, batched requests, aliases), no more than maxFailures of them reach bcrypt
 * before the lockout. No transaction or atomic counter is needed, which FerretDB lacks.
 */
export class SigninThrottle {
  constructor(private readonly policy: ThrottlePolicy) {}

  async begin(accountKey: string, ip: string): Promise<ThrottleDecision> {
    const now = new Date();
    const ipKey = `ip:${ip}`;
    const [accountAttempt, ipAttempt] = await SigninAttemptModel.insertMany([
      { key: accountKey, at: now },
      { key: ipKey, at: now },
    ]);
    if (!accountAttempt || !ipAttempt) throw new Error("signin attempt was not recorded");

    const windowStart = new Date(now.getTime() - this.policy.windowSeconds * 1000);
    const own = new Set([String(accountAttempt._id), String(ipAttempt._id)]);
    // One query for both keys: each signin already costs several database round trips.
    const earlier = (
      await SigninAttemptModel.find({
        key: { $in: [accountKey, ipKey] },
        at: { $gte: windowStart },
      })
        .select({ key: 1, at: 1 })
        .lean()
        .exec()
    ).filter((attempt) => !own.has(String(attempt._id)));
    const waits = [
      this.lockedFor(
        earlier.filter((a) => a.key === accountKey),
        this.policy.account,
        now,
      ),
      this.lockedFor(
        earlier.filter((a) => a.key === ipKey),
        this.policy.ip,
        now,
      ),
    ];
    this.dropExpiredSometimes(windowStart);
    const retryAfterSeconds = Math.max(...waits);
    if (retryAfterSeconds > 0) {
      // A refused attempt tried no password, so it does not count as a failure.
      await SigninAttemptModel.deleteMany({ _id: { $in: [accountAttempt._id, ipAttempt._id] } });
      return { allowed: false, retryAfterSeconds };
    }
    return {
      allowed: true,
      ticket: { accountAttemptId: accountAttempt._id, ipAttemptId: ipAttempt._id, accountKey },
    };
  }

  /** A correct password clears the account's failures and takes this attempt off the IP. */
  async succeeded(ticket: AttemptTicket): Promise<void> {
    await SigninAttemptModel.deleteMany({
      $or: [{ key: ticket.accountKey }, { _id: ticket.ipAttemptId }],
    });
  }

  /**
   * Records older than the window never count again. The database may not support TTL
   * indexes, so they are deleted here, on about one signin in 20 and without waiting for it.
   */
  private dropExpiredSometimes(windowStart: Date): void {
    if (Math.random() >= 0.05) return;
    SigninAttemptModel.deleteMany({ at: { $lt: windowStart } })
      .exec()
      .catch(() => undefined);
  }

  /** Seconds until a key with these earlier attempts may try again; 0 when it may now. */
  private lockedFor(earlier: { at: Date }[], rule: ThrottleRule, now: Date): number {
    const failures = earlier.length;
    if (failures < rule.maxFailures) return 0;
    const latest = Math.max(...earlier.map((attempt) => attempt.at.getTime()));
    const exponent = Math.min(failures - rule.maxFailures, 30);
    const lockSeconds = Math.min(
      this.policy.lockoutBaseSeconds * 2 ** exponent,
      this.policy.lockoutMaxSeconds,
    );
    const lockedUntil = latest + lockSeconds * 1000;
    return lockedUntil > now.getTime() ? Math.ceil((lockedUntil - now.getTime()) / 1000) : 0;
  }
}
