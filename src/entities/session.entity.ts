import { getModelForClass, index, modelOptions, prop } from "@typegoose/typegoose";
import { Types } from "mongoose";

/**
 * A sign-in session: the family of refresh tokens that descend from one signin.
 * Revoking it (signout, reuse detection) kills every token of the family at once.
 */
@modelOptions({ schemaOptions: { collection: "sessions" } })
@index({ userId: 1, revoked: 1 })
export class Session {
  readonly _id!: Types.ObjectId;

  @prop({ required: true, type: () => Types.ObjectId })
  userId!: Types.ObjectId;

  @prop({ required: true })
  createdAt!: Date;

  /** Absolute end of the session (SESSION_MAX_AGE after signin), whatever the activity. */
  @prop({ required: true })
  expiresAt!: Date;

  // An explicit boolean rather than a missing field: {revoked: false} matches the same way on
  // every MongoDB-compatible server.
  @prop({ required: true, default: false })
  revoked!: boolean;

  @prop()
  revokedAt?: Date;

  @prop()
  revokedReason?: "SIGNOUT" | "SIGNOUT_ALL" | "REUSE_DETECTED";
}

export const SessionModel = getModelForClass(Session);
