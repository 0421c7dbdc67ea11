import { Field, InputType } from "type-graphql";
import { Role } from "../entities/role";

@InputType({
  description: "A new account. Rules are checked by the server; errors name the field.",
})
export class SignupInput {
  @Field({ description: "3 to 32 of A-Z a-z 0-9 _ . -; unique regardless of letter case." })
  username!: string;

  @Field({ description: "A valid address; stored lowercased and unique." })
  email!: string;

  @Field({ description: "At least 8 characters and at most 72 bytes (UTF-8)." })
  password!: string;

  @Field(() => [Role], {
    nullable: true,
    description: "Only an ADMIN caller may set roles; anyone else gets FORBIDDEN. Default [USER].",
  })
  roles?: Role[] | null;
}
