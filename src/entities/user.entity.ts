import { getModelForClass, index, modelOptions, prop, Severity } from "@typegoose/typegoose";
import type { Types } from "mongoose";
import { collectionOf } from "../db/atomic-writes";
import { Field, ID, ObjectType } from "type-graphql";
import { Role } from "./role";

/**
 * An account. The request path reads it by _id only: signin finds the id through the
 * `usernames` or `emails` claim (keyed by the normalised name), refresh through the token.
 *
 * Every change after signup goes through VersionedRecords (see user-store.ts), with `v` the
 * version this document shows: concurrent changes (an admin disabling the account while its
 * owner changes the password) never overwrite each other.
 */
@ObjectType({ description: "An account. Its password hash is never part of the API." })
@modelOptions({ schemaOptions: { collection: "users" }, options: { allowMixed: Severity.ALLOW } })
// For MongoDB: the admin search and role filter use these; FerretDB on SQLite scans either way.
@index({ usernameKey: 1 })
@index({ email: 1 })
@index({ roles: 1 })
@index({ status: 1, createdAt: 1 })
export class User {
  @Field(() => ID, { name: "id" })
  readonly _id!: Types.ObjectId;

  @Field({ description: "As the user typed it at signup; unique regardless of letter case." })
  @prop({ required: true })
  username!: string;

  @prop({ required: true })
  usernameKey!: string;

  @Field({ description: "Stored lowercased." })
  @prop({ required: true })
  email!: string;

  @prop({ required: true })
  passwordHash!: string;

  @Field(() => [Role])
  @prop({ type: () => [String], enum: Role, required: true })
  roles!: Role[];

  @Field(() => Date)
  @prop({ required: true })
  createdAt!: Date;

  @Field(() => Date, {
    nullable: true,
    description: "When the owner proved the address (verification link or password reset).",
  })
  @prop({ type: Date })
  emailVerifiedAt?: Date | null;

  @prop({ type: Date })
  disabledAt?: Date | null;

  @Field(() => String, { nullable: true, description: "Why an administrator disabled it." })
  @prop({ type: String })
  disabledReason?: string | null;

  @prop({ type: Date })
  passwordChangedAt?: Date | null;

  /**
   * "pending" from the insert until the account owns its username and email; only "active"
   * accounts can sign in. A pending account older than a signup can take is abandoned (its
   * signup crashed) and is removed by the next signup that wants one of its names, or by the
   * sweep.
   */
  @prop({ required: true, type: String })
  status!: "pending" | "active";

  /** Version of the account's state (VersionedRecords); 0 until its first change. */
  @prop({ required: true, default: 0 })
  v!: number;
}

/** The account as services pass it around: everything but the password hash. */
export type UserRecord = Omit<User, "_id" | "passwordHash" | "v"> & { _id: Types.ObjectId };

export const UserModel = getModelForClass(User);
/** Raw documents carry the hash and the version; services narrow them (user-store.ts). */
export const userCollection = collectionOf<User>(UserModel);
