import { getModelForClass, index, modelOptions, prop } from "@typegoose/typegoose";
import type { Types } from "mongoose";
import { Field, ID, ObjectType } from "type-graphql";
import { Role } from "./role";

@ObjectType({ description: "An account. Its password hash is never part of the API." })
@modelOptions({ schemaOptions: { collection: "users", timestamps: true } })
// Uniqueness lives in the database, not in a prior lookup, so two concurrent signups can't
// both win. usernameKey is the lowercased username: "Alice" and "alice" are the same account.
@index({ usernameKey: 1 }, { unique: true })
@index({ email: 1 }, { unique: true })
export class User {
  readonly _id!: Types.ObjectId;

  /** mongoose's string form of _id. */
  @Field(() => ID)
  readonly id!: string;

  @Field({ description: "As the user typed it at signup; unique regardless of letter case." })
  @prop({ required: true })
  username!: string;

  @prop({ required: true })
  usernameKey!: string;

  @Field({ description: "Stored lowercased." })
  @prop({ required: true })
  email!: string;

  // select: false keeps the hash out of every query that does not ask for it by name.
  @prop({ required: true, select: false })
  passwordHash!: string;

  @Field(() => [Role])
  @prop({ type: () => [String], enum: Role, required: true })
  roles!: Role[];

  @Field(() => Date)
  @prop()
  createdAt!: Date;
}

export const UserModel = getModelForClass(User);
