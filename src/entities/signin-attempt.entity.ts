import { getModelForClass, index, modelOptions, prop } from "@typegoose/typegoose";
import type { Types } from "mongoose";

/**
 * One signin attempt that was let through to bcrypt, counted against a throttle key
 * (an account or a client IP). Kept in the database so every server instance sees the same
 * counts. Deleted when the attempt turns out to be a success or was refused unread.
 */
@modelOptions({ schemaOptions: { collection: "signin_attempts" } })
@index({ key: 1, at: 1 })
export class SigninAttempt {
  readonly _id!: Types.ObjectId;

  /** "account:<user id or normalized name>" or "ip:<address>". */
  @prop({ required: true })
  key!: string;

  @prop({ required: true })
  at!: Date;
}

export const SigninAttemptModel = getModelForClass(SigninAttempt);
