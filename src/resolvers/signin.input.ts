import { Field, InputType } from "type-graphql";

@InputType()
export class SigninInput {
  @Field({ description: "The account's username, or its email." })
  username!: string;

  @Field()
  password!: string;
}
