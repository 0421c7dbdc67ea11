import { getModelForClass, index, modelOptions, prop } from "@typegoose/typegoose";
import { Types } from "mongoose";

/**
 * One refresh token of a session. Only its SHA-256 hash is stored: a database leak gives an
 * attacker nothing to present.
 *
 * Rotation is race-free without transactions: the token that replaces token T is inserted with
 * parentHash = hash(T), and parentHash is unique. Of two concurrent refreshes with T, the
 * database lets exactly one insert succeed; the other sees a duplicate key, which is what a
 * replayed (spent) token looks like, and is treated as reuse.
 */
@modelOptions({ schemaOptions: { collection: "refresh_tokens" } })
@index({ parentHash: 1 }, { unique: true })
@index({ sessionId: 1 })
export class RefreshToken {
  /**
   * The token's SHA-256 hash (hex). Being the _id makes the lookup on every refresh a primary
   * key lookup, which every MongoDB-compatible server serves fast (some answer queries on
   * secondary indexes by scanning).
   */
  @prop({ type: String, required: true })
  _id!: string;

  /** hash of the token this one replaced, or "session:<id>" for the first token of a session. */
  @prop({ required: true })
  parentHash!: string;

  @prop({ required: true, type: () => Types.ObjectId })
  sessionId!: Types.ObjectId;

  @prop({ required: true, type: () => Types.ObjectId })
  userId!: Types.ObjectId;

  @prop({ required: true })
  createdAt!: Date;

  /** Inactivity deadline: REFRESH_TOKEN_TTL after issue, never past the session's end. */
  @prop({ required: true })
  expiresAt!: Date;
}

export const RefreshTokenModel = getModelForClass(RefreshToken);
