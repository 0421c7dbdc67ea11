import { getModelForClass, modelOptions, prop } from "@typegoose/typegoose";
import type { Types } from "mongoose";
import { collectionOf } from "../db/atomic-writes";

/**
 * When an account last signed in. Its own document, written by signin only: on the account's
 * document it would be a write on every signin racing every other change of the account.
 */
@modelOptions({ schemaOptions: { collection: "user_activity" } })
export class UserActivity {
  /** The account's id. */
  readonly _id!: Types.ObjectId;

  @prop({ required: true })
  lastSigninAt!: Date;
}

export const UserActivityModel = getModelForClass(UserActivity);
export const userActivityCollection = collectionOf<UserActivity>(UserActivityModel);
