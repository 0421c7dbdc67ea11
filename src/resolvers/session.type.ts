import { Field, ID, ObjectType } from "type-graphql";

@ObjectType({
  description: "A signed-in device: one signin and the refresh tokens that descend from it.",
})
export class Session {
  @Field(() => ID)
  id!: string;

  @Field(() => Date, { description: "When the user signed in." })
  createdAt!: Date;

  @Field(() => Date, { description: "The last refresh (the signin when there was none)." })
  lastUsedAt!: Date;

  @Field(() => Date, { description: "When the session ends however active it is." })
  expiresAt!: Date;

  @Field(() => String, { nullable: true, description: "The client's User-Agent, truncated." })
  userAgent!: string | null;

  @Field(() => String, { nullable: true })
  ipAtSignin!: string | null;

  @Field(() => String, { nullable: true })
  ipAtLastRefresh!: string | null;

  @Field({ description: "The session the caller's access token belongs to." })
  current!: boolean;
}
