import { getModelForClass, index, modelOptions, prop } from "@typegoose/typegoose";
import { Types } from "mongoose";
import { collectionOf } from "../db/atomic-writes";

/**
 * One refresh token. Only its SHA-256 hash is stored, as the _id: a database leak gives an
 * attacker nothing to present, and the lookup on every refresh is a primary-key lookup.
 *
 * Tokens form a chain per session. `node` is the token's place in the chain; two tabs that
 * refresh with the same token within REFRESH_REUSE_GRACE get two different tokens for the same
 * node (siblings), so the session still has exactly one live place in its chain.
 */
@modelOptions({ schemaOptions: { collection: "refresh_tokens" } })
@index({ expiresAt: 1 })
@index({ userId: 1 })
export class RefreshToken {
  @prop({ type: String, required: true })
  _id!: string;

  @prop({ required: true })
  node!: string;

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

/**
 * That a chain node was spent, and what replaced it. Inserted with the spent node as _id, so of
 * concurrent refreshes with one token exactly one insert succeeds: rotation is race-free
 * without transactions, and a later presentation of any token of that node finds this
 * document and is a replay (or, within the grace, a second tab).
 *
 * The same insert issues the winner's new token: `childTokenHash` is the SHA-256 of its secret,
 * and the token reads `<this _id>.<secret>`, so it is found by this document's key. One write
 * per refresh instead of two, and no crash between them can spend a node without a successor.
 */
@modelOptions({ schemaOptions: { collection: "refresh_rotations" } })
@index({ at: 1 })
@index({ expiresAt: 1 })
@index({ sessionId: 1 })
export class RefreshRotation {
  @prop({ type: String, required: true })
  _id!: string;

  /** The node that replaced this one. */
  @prop({ required: true })
  child!: string;

  @prop({ required: true, type: () => Types.ObjectId })
  sessionId!: Types.ObjectId;

  @prop({ required: true })
  at!: Date;

  /**
   * When the child's token expires. Until then the record answers for it, and for the spent
   * tokens of this node (which expired no later): reuse detection.
   */
  @prop({ required: true })
  expiresAt!: Date;

  /** SHA-256 (hex) of the secret of the child's token; absent on records written before it. */
  @prop({ type: String })
  childTokenHash?: string;
}

export const RefreshTokenModel = getModelForClass(RefreshToken);
export const RefreshRotationModel = getModelForClass(RefreshRotation);
export const refreshTokenCollection = collectionOf<RefreshToken>(RefreshTokenModel);
export const refreshRotationCollection = collectionOf<RefreshRotation>(RefreshRotationModel);
