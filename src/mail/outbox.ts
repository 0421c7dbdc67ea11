import { randomBytes } from "node:crypto";
import type { Collection, Filter } from "mongodb";
import type { Types } from "mongoose";
import type { BackgroundJob } from "../background/background-jobs";
import type { Clock } from "../clock";
import { deleteById, insertOnce } from "../db/atomic-writes";
import {
  mailAttemptCollection,
  mailLogCollection,
  outboxCollection,
  type MailOutcome,
  type OutboxMessage,
} from "../entities/mail.entity";
import type { Logger } from "../logger";
import type { SweepStep } from "../services/retention-sweep";
import type { MailComposer } from "./mail-composer";
import { describeFailure, isPermanentFailure, type MailTransport } from "./mail-transport";

/** What a request asks to be sent. */
export type QueuedMail =
  | { readonly kind: "verify-email"; readonly userId: Types.ObjectId }
  | { readonly kind: "verify-email" | "password-reset"; readonly email: string }
  | {
      readonly kind: "password-changed";
      readonly userId: Types.ObjectId;
      readonly how: "change" | "reset";
    };

/** Attempts per message: 0 s, 30 s, 1, 2, 4, 8, 16 and 32 min after queueing (about an hour). */
export const MAX_ATTEMPTS = 8;
const FIRST_RETRY_MS = 30_000;
const MAX_RETRY_MS = 3_600_000;
/** Messages looked at per run, and sent at once within it. */
const BATCH = 20;
const CONCURRENCY = 4;
/**
 * A claimed attempt not finished after this long belongs to an instance that stopped in the
 * middle of it: nodemailer's timeouts (mail-transport.ts) end any attempt within a minute.
 */
export const STALE_CLAIM_MS = 5 * 60_000;

export function retryDelayMs(failedAttempts: number): number {
  return Math.min(FIRST_RETRY_MS * 2 ** (failedAttempts - 1), MAX_RETRY_MS);
}

/**
 * The queue of mail to send. A request adds a message (one insert) with the write that caused
 * it and returns: it never waits on SMTP. Messages say what to send, not the text (see
 * OutboxMessage), so no token is ever stored outside email_tokens' hashes.
 */
export class Outbox {
  private readonly listeners: (() => void)[] = [];

  constructor(private readonly clock: Clock) {}

  async queue(mail: QueuedMail): Promise<void> {
    const now = new Date(this.clock.nowMs());
    await outboxCollection.insertOne({
      _id: randomBytes(12).toString("hex"),
      kind: mail.kind,
      userId: "userId" in mail ? mail.userId : null,
      email: "email" in mail ? mail.email : null,
      how: "how" in mail ? mail.how : null,
      createdAt: now,
      attempts: 0,
      nextAttemptAt: now,
      lastError: null,
    });
    for (const listener of this.listeners) listener();
  }

  /** Told after each message queued here, so this instance's sender can start at once. */
  onQueued(listener: () => void): void {
    this.listeners.push(listener);
  }
}

/**
 * Delivers the outbox, as a background job under a lease (one instance at a time), with
 * retries and back-off. Exactly-once across instances does not rest on the lease: each attempt
 * at a message is claimed by inserting "<messageId>:<attempt>" before any SMTP traffic, so two
 * senders (a lease that ran out mid-run, say) never make the same attempt. A message is then
 * logged as sent before it leaves the queue; only a crash between SMTP's "250 OK" and that
 * write can send it twice, never zero times. A message that keeps failing, or that SMTP
 * refuses for good (5xx), is logged as failed, as an error line: never dropped silently.
 */
export class MailSender implements BackgroundJob {
  readonly name = "mail-sender";
  /** Picks up other instances' messages and retries; this instance's own start at once. */
  readonly everyMs = 5_000;

  constructor(
    private readonly deps: {
      readonly clock: Clock;
      readonly outbox: Outbox;
      readonly composer: MailComposer;
      readonly transport: MailTransport;
      readonly logger: Logger;
      /** Names this process on its claims. */
      readonly holder: string;
      /** Development only: the link of each mail goes to the log too. */
      readonly logLinks: boolean;
    },
  ) {}

  attachWake(wake: () => void): void {
    this.deps.outbox.onQueued(wake);
  }

  async run(signal: AbortSignal): Promise<{ more: boolean }> {
    const now = new Date(this.deps.clock.nowMs());
    const due = await outboxCollection
      .find({ nextAttemptAt: { $lte: now } })
      .sort({ nextAttemptAt: 1 })
      .limit(BATCH)
      .toArray();
    let handled = 0;
    for (let i = 0; i < due.length; i += CONCURRENCY) {
      if (signal.aborted) return { more: false };
      const outcomes = await Promise.all(
        due.slice(i, i + CONCURRENCY).map((message) => this.attempt(message)),
      );
      handled += outcomes.filter(Boolean).length;
    }
    // Messages another sender is working on do not bring this one straight back.
    return { more: due.length === BATCH && handled > 0 };
  }

  /** One attempt at one message; false when another sender has this attempt. */
  private async attempt(message: OutboxMessage): Promise<boolean> {
    const { clock, composer, transport, holder } = this.deps;
    const attempt = message.attempts + 1;
    const claimed = await insertOnce(mailAttemptCollection, {
      _id: `${message._id}:${attempt}`,
      at: new Date(clock.nowMs()),
      holder,
    });
    if (!claimed) {
      await this.takeOverIfStale(message, attempt);
      return false;
    }
    let sent: { to: string; userId: Types.ObjectId; subject: string; link?: string };
    try {
      const composed = await composer.compose(message);
      if ("drop" in composed) {
        await this.finish(message, attempt, "dropped", { error: composed.drop });
        return true;
      }
      await transport.send(composed);
      sent = composed;
    } catch (error) {
      await this.failed(message, attempt, error);
      return true;
    }
    await this.finish(message, attempt, "sent", { to: sent.to, userId: sent.userId });
    const facts = { mailId: message._id, kind: message.kind, attempts: attempt };
    if (this.deps.logLinks && sent.link) {
      this.deps.logger.info(
        { ...facts, to: sent.to, subject: sent.subject, link: sent.link },
        "mail sent (development: its link is logged here too)",
      );
    } else {
      this.deps.logger.info(facts, "mail sent");
    }
    return true;
  }

  private async failed(message: OutboxMessage, attempt: number, error: unknown): Promise<void> {
    const { clock, logger } = this.deps;
    const reason = describeFailure(error);
    const facts = { mailId: message._id, kind: message.kind, attempts: attempt, error: reason };
    if (isPermanentFailure(error) || attempt >= MAX_ATTEMPTS) {
      await this.finish(message, attempt, "failed", { error: reason });
      logger.error(facts, "mail delivery failed for good; the message is in mail_log");
      return;
    }
    const delayMs = retryDelayMs(attempt);
    await outboxCollection.updateOne(
      { _id: message._id },
      {
        $set: {
          attempts: attempt,
          nextAttemptAt: new Date(clock.nowMs() + delayMs),
          lastError: reason,
        },
      },
    );
    logger.warn({ ...facts, retryInSeconds: delayMs / 1000 }, "mail delivery failed; will retry");
  }

  /** Logged first, then out of the queue: a crash in between leaves it logged and queued. */
  private async finish(
    message: OutboxMessage,
    attempts: number,
    outcome: MailOutcome,
    extra: { to?: string; userId?: Types.ObjectId; error?: string },
  ): Promise<void> {
    await insertOnce(mailLogCollection, {
      _id: message._id,
      kind: message.kind,
      outcome,
      to: extra.to ?? null,
      userId: extra.userId ?? message.userId ?? null,
      attempts,
      error: extra.error ?? null,
      createdAt: message.createdAt,
      at: new Date(this.deps.clock.nowMs()),
    });
    await deleteById(outboxCollection, message._id);
  }

  /**
   * The attempt was claimed by a sender that never finished it (its instance stopped): after
   * STALE_CLAIM_MS it counts as a failed attempt and the next one is due now, unless the
   * message was in fact sent (logged) and only its removal from the queue was lost.
   */
  private async takeOverIfStale(message: OutboxMessage, attempt: number): Promise<void> {
    const now = this.deps.clock.nowMs();
    const claim = await mailAttemptCollection.findOne({ _id: `${message._id}:${attempt}` });
    if (!claim || now - claim.at.getTime() < STALE_CLAIM_MS) return;
    if (await mailLogCollection.findOne({ _id: message._id })) {
      await deleteById(outboxCollection, message._id);
      return;
    }
    if (attempt >= MAX_ATTEMPTS) {
      await this.finish(message, attempt, "failed", { error: "the sending instance stopped" });
      this.deps.logger.error(
        { mailId: message._id, kind: message.kind, attempts: attempt },
        "mail delivery failed for good; the message is in mail_log",
      );
      return;
    }
    await outboxCollection.updateOne(
      { _id: message._id },
      { $set: { attempts: attempt, nextAttemptAt: new Date(now), lastError: "interrupted" } },
    );
  }
}

/** Sent, failed and dropped mail, and attempt claims, past retention. */
export function mailSweepSteps(): SweepStep[] {
  return [
    deleteOlderThan("mail-log", mailLogCollection, "at"),
    deleteOlderThan("mail-attempts", mailAttemptCollection, "at"),
  ];
}

/** A step that deletes, by _id, up to a batch of documents whose `field` is past retention. */
export function deleteOlderThan<T extends { _id: string }>(
  name: string,
  collection: Collection<T>,
  field: keyof T & string,
): SweepStep {
  return {
    name,
    async run(now, retentionMs, batch) {
      const cutoff = new Date(now - retentionMs);
      const old = await collection
        .find({ [field]: { $lt: cutoff } } as Filter<T>, {
          projection: { _id: 1 },
        })
        .limit(batch)
        .toArray();
      for (const doc of old) await deleteById(collection, doc._id);
      return old.length;
    },
  };
}
