import { Field, ObjectType } from "type-graphql";
import { User } from "../entities/user.entity";

@ObjectType({
  description: "What signin and refreshToken return: the user and a fresh token pair.",
})
export class AuthPayload {
  @Field(() => User)
  user!: User;

  @Field({ description: "Send as `Authorization: Bearer <accessToken>`." })
  accessToken!: string;

  @Field(() => Date)
  accessTokenExpiresAt!: Date;

  @Field(() => String, {
    nullable: true,
    description:
      "Single use: trade it for a new pair with refreshToken. Presenting it twice ends the session. Null when the client asked for the cookie transport (header x-refresh-token-transport: cookie): the token is then in an httpOnly cookie.",
  })
  refreshToken!: string | null;

  @Field(() => Date)
  refreshTokenExpiresAt!: Date;
}
