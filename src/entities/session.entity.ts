import { getModelForClass, index, modelOptions, prop } from "@typegoose/typegoose";
import { Types } from "mongoose";
import { collectionOf } from "../db/atomic-writes";

export type SessionEndReason =
  | "SIGNOUT"
  | "SIGNOUT_ALL"
  | "REUSE_DETECTED"
  | "REVOKED"
  | "REVOKED_OTHERS"
  | "PASSWORD_CHANGED"
  | "PASSWORD_RESET"
  | "ACCOUNT_DISABLED"
  | "ACCOUNT_DELETED"
  | "ADMIN_REVOKED"
  | "SESSION_LIMIT";

/**
 * A sign-in session: the family of refresh tokens that descend from one signin. Revoking it
 * (signout, reuse detection, an admin) kills every token of the family at once; access tokens
 * carry its id as `sid`.
 *
 * Written twice at most: when created, and when it ends. Its activity (last refresh) lives in
 * session_activity, because FerretDB writes a document back whole and a refresh that updated
 * this one could overwrite a revocation landing at the same moment.
 */
@modelOptions({ schemaOptions: { collection: "sessions" } })
// For MongoDB: the retention sweep and the account purge filter on these.
@index({ expiresAt: 1 })
@index({ revokedAt: 1 })
@index({ userId: 1 })
export class SessionRecord {
  readonly _id!: Types.ObjectId;

  @prop({ required: true, type: () => Types.ObjectId })
  userId!: Types.ObjectId;

  @prop({ required: true })
  createdAt!: Date;

  /** Absolute end of the session (SESSION_MAX_AGE after signin), whatever the activity. */
  @prop({ required: true })
  expiresAt!: Date;

  /** The client's User-Agent at signin, truncated. */
  @prop()
  userAgent?: string;

  @prop()
  ip?: string;

  @prop({ type: Date })
  revokedAt?: Date | null;

  @prop({ type: String })
  revokedReason?: SessionEndReason | null;
}

/** The last refresh of a session; written by refreshes only. */
@modelOptions({ schemaOptions: { collection: "session_activity" } })
@index({ lastUsedAt: 1 })
export class SessionActivity {
  /** The session's id. */
  readonly _id!: Types.ObjectId;

  @prop({ required: true })
  lastUsedAt!: Date;

  @prop()
  userAgent?: string;

  @prop()
  ip?: string;
}

export const SessionModel = getModelForClass(SessionRecord);
export const SessionActivityModel = getModelForClass(SessionActivity);
export const sessionCollection = collectionOf<SessionRecord>(SessionModel);
export const sessionActivityCollection = collectionOf<SessionActivity>(SessionActivityModel);
