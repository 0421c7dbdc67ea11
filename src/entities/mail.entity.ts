import { getModelForClass, index, modelOptions, prop, Severity } from "@typegoose/typegoose";
import { Types } from "mongoose";
import { collectionOf } from "../db/atomic-writes";

/*
 * The mail outbox (src/mail/outbox.ts). Three collections, so the one the sender scans stays
 * small: FerretDB on SQLite answers any filter but {_id} by scanning, and the pending queue
 * holds only what is still to be sent, while sent and failed mail go to the log.
 */

export type MailKind = "verify-email" | "password-reset" | "password-changed";

/**
 * A message to send. It names what to send and to whom, never the text: a token is made, and
 * the text rendered, when the message is sent, so no secret waits in the database.
 */
@modelOptions({
  schemaOptions: { collection: "mail_outbox" },
  options: { allowMixed: Severity.ALLOW },
})
@index({ nextAttemptAt: 1 })
export class OutboxMessage {
  @prop({ type: String, required: true })
  _id!: string;

  @prop({ type: String, required: true })
  kind!: MailKind;

  /** The account, when the request knew it (signup, a signed-in user, a password change). */
  @prop({ type: () => Types.ObjectId })
  userId?: Types.ObjectId | null;

  /**
   * The address a signed-out client typed (password reset, a new verification link): the
   * sender looks the account up, so the request never learns whether one exists.
   */
  @prop({ type: String })
  email?: string | null;

  /** How the password was changed, for the notice. */
  @prop({ type: String })
  how?: "change" | "reset" | null;

  @prop({ required: true })
  createdAt!: Date;

  /** Attempts finished (delivered, or failed and rescheduled). */
  @prop({ required: true })
  attempts!: number;

  @prop({ required: true })
  nextAttemptAt!: Date;

  /** Why the last attempt failed (the SMTP server's answer or the network error). */
  @prop({ type: String })
  lastError?: string | null;
}

/**
 * One delivery attempt, claimed before the sender talks to SMTP: the _id "<messageId>:<n>" can
 * be inserted once, so of several instances sending at once exactly one makes attempt n.
 */
@modelOptions({ schemaOptions: { collection: "mail_attempts" } })
@index({ at: 1 })
export class MailAttempt {
  @prop({ type: String, required: true })
  _id!: string;

  @prop({ required: true })
  at!: Date;

  /** The process that claimed it (the lease holder's name). */
  @prop({ required: true })
  holder!: string;
}

export type MailOutcome = "sent" | "failed" | "dropped";

/**
 * What became of a message, kept RETENTION_DAYS: sent, failed for good (logged as an error),
 * or dropped because there was nothing to send (a reset asked for an address no account has).
 */
@modelOptions({ schemaOptions: { collection: "mail_log" } })
@index({ at: 1 })
export class MailLogEntry {
  /** The message's id. */
  @prop({ type: String, required: true })
  _id!: string;

  @prop({ type: String, required: true })
  kind!: MailKind;

  @prop({ type: String, required: true })
  outcome!: MailOutcome;

  /** The recipient of a sent or failed message; none for a dropped one. */
  @prop({ type: String })
  to?: string | null;

  @prop({ type: () => Types.ObjectId })
  userId?: Types.ObjectId | null;

  @prop({ required: true })
  attempts!: number;

  @prop({ type: String })
  error?: string | null;

  @prop({ required: true })
  createdAt!: Date;

  @prop({ required: true })
  at!: Date;
}

export const OutboxMessageModel = getModelForClass(OutboxMessage);
export const MailAttemptModel = getModelForClass(MailAttempt);
export const MailLogEntryModel = getModelForClass(MailLogEntry);
export const outboxCollection = collectionOf<OutboxMessage>(OutboxMessageModel);
export const mailAttemptCollection = collectionOf<MailAttempt>(MailAttemptModel);
export const mailLogCollection = collectionOf<MailLogEntry>(MailLogEntryModel);
