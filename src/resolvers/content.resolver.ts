import { Authorized, Query, Resolver } from "type-graphql";
import { Role } from "../entities/role";

/** The tutorial's four boards, each behind its role. */
@Resolver()
export class ContentResolver {
  @Query(() => String, { description: "Anyone, signed in or not." })
  publicContent(): string {
    return "Public Content.";
  }

  @Authorized()
  @Query(() => String, { description: "Any signed-in user." })
  userContent(): string {
    return "User Content.";
  }

  @Authorized(Role.MODERATOR)
  @Query(() => String, { description: "Users with the MODERATOR role." })
  modContent(): string {
    return "Moderator Content.";
  }

  @Authorized(Role.ADMIN)
  @Query(() => String, { description: "Users with the ADMIN role." })
  adminContent(): string {
    return "Admin Content.";
  }
}
