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

    const waits = await Promise.all([
      this.lockedFor(accountKey, accountAttempt._id, this.policy.account, now),
      this.lockedFor(ipKey, ipAttempt._id, this.policy.ip, now),
    ]);
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

  /** Seconds until `key` may try again; 0 when it may now. */
  private async lockedFor(
    key: string,
    ownAttempt: Types.ObjectId,
    rule: ThrottleRule,
    now: Date,
  ): Promise<number> {
    const windowStart = new Date(now.getTime() - this.policy.windowSeconds * 1000);
    // Old records only ever matter inside the window: drop them while we are here, since the
    // database may not support TTL indexes.
    await SigninAttemptModel.deleteMany({ key, at: { $lt: windowStart } });
    const earlier = await SigninAttemptModel.find({
      key,
      at: { $gte: windowStart },
      _id: { $ne: ownAttempt },
    })
      .select({ at: 1 })
      .sort({ at: -1 })
      .limit(rule.maxFailures + 64)
      .lean()
      .exec();
    const failures = earlier.length;
    const latest = earlier[0];
    if (failures < rule.maxFailures || !latest) return 0;
    const exponent = Math.min(failures - rule.maxFailures, 30);
    const lockSeconds = Math.min(
      this.policy.lockoutBaseSeconds * 2 ** exponent,
      this.policy.lockoutMaxSeconds,
    );
    const lockedUntil = latest.at.getTime() + lockSeconds * 1000;
    return lockedUntil > now.getTime() ? Math.ceil((lockedUntil - now.getTime()) / 1000) : 0;
  }
}
