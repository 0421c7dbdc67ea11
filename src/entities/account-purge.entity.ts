import { getModelForClass, modelOptions, prop } from "@typegoose/typegoose";
import type { Types } from "mongoose";
import { collectionOf } from "../db/atomic-writes";

/**
 * An account that was deleted and whose data is still to be removed. Inserted before the
 * account is deleted, removed when the purge job has deleted everything keyed to it: a crash at
 * any point leaves the work queued, never half done and forgotten.
 */
@modelOptions({ schemaOptions: { collection: "account_purges" } })
export class AccountPurge {
  /** The deleted account's id. */
  readonly _id!: Types.ObjectId;

  @prop({ required: true })
  at!: Date;

  /** The names to release; the entry (and these) go when the purge is done. */
  @prop({ required: true })
  usernameKey!: string;

  @prop({ required: true })
  email!: string;
}

export const AccountPurgeModel = getModelForClass(AccountPurge);
export const accountPurgeCollection = collectionOf<AccountPurge>(AccountPurgeModel);
