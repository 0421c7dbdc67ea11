import { getModelForClass, index, modelOptions, prop } from "@typegoose/typegoose";
import { Types } from "mongoose";
import { collectionOf } from "../db/atomic-writes";

export type EmailTokenKind = "verify-email" | "password-reset";

/**
 * A token sent by mail: it proves the address (verify-email) or allows one password reset.
 * Like refresh tokens, only its SHA-256 hash is stored, as the _id, so a database leak gives
 * nothing to present and the lookup is by primary key. Spending it is a delete by _id, which
 * exactly one of several concurrent callers wins.
 */
@modelOptions({ schemaOptions: { collection: "email_tokens" } })
@index({ expiresAt: 1 })
export class EmailToken {
  @prop({ type: String, required: true })
  _id!: string;

  @prop({ type: String, required: true })
  kind!: EmailTokenKind;

  @prop({ required: true, type: () => Types.ObjectId })
  userId!: Types.ObjectId;

  /** The address it was sent to: it proves that one, not whatever the account has later. */
  @prop({ required: true })
  email!: string;

  @prop({ required: true })
  createdAt!: Date;

  @prop({ required: true })
  expiresAt!: Date;
}

export const EmailTokenModel = getModelForClass(EmailToken);
export const emailTokenCollection = collectionOf<EmailToken>(EmailTokenModel);
