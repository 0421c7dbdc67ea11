import { Field, ID, ObjectType } from "type-graphql";
import { User, type UserRecord } from "../entities/user.entity";

@ObjectType({
  description: "What signin and refreshToken return: the user and a fresh token pair.",
})
export class AuthPayload {
  @Field(() => User)
  user!: UserRecord;

  @Field(() => ID, { description: "The session this pair belongs to (its id in mySessions)." })
  sessionId!: string;

  @Field({ description: "Send as `Authorization: Bearer <accessToken>`." })
  accessToken!: string;

  @Field(() => Date)
  accessTokenExpiresAt!: Date;

  @Field(() => String, {
    nullable: true,
    description:
      "Single use: trade it for a new pair with refreshToken. Null when the token travels in the httpOnly cookie: when the client asked for it (header x-refresh-token-transport: cookie), and always when the spent token came from the cookie.",
  })
  refreshToken!: string | null;

  @Field(() => Date)
  refreshTokenExpiresAt!: Date;
}
