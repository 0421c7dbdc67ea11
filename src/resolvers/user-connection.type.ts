import { Field, Int, ObjectType } from "type-graphql";
import { User, type UserRecord } from "../entities/user.entity";

@ObjectType()
export class PageInfo {
  @Field()
  hasNextPage!: boolean;

  @Field(() => String, { nullable: true, description: "Pass as `after` for the next page." })
  endCursor!: string | null;
}

@ObjectType()
export class UserEdge {
  @Field()
  cursor!: string;

  @Field(() => User)
  node!: UserRecord;
}

@ObjectType({ description: "A page of accounts (Relay connection), oldest first." })
export class UserConnection {
  @Field(() => [UserEdge])
  edges!: UserEdge[];

  @Field(() => PageInfo)
  pageInfo!: PageInfo;

  @Field(() => Int, { description: "Accounts matching the filters, on every page." })
  totalCount!: number;
}
