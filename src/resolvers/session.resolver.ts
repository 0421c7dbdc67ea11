import { Arg, Authorized, Ctx, ID, Int, Mutation, Query, Resolver } from "type-graphql";
import { signedIn } from "../auth/caller-identity";
import type { Context } from "../context";
import type { SessionListing } from "../services/session.service";
import { Session } from "./session.type";

@Resolver(() => Session)
export class SessionResolver {
  @Authorized()
  @Query(() => [Session], {
    description: "The caller's active sessions, newest first; `current` marks this one.",
  })
  mySessions(@Ctx() { caller, services }: Context): Promise<SessionListing[]> {
    const { userId, sessionId } = signedIn(caller);
    return services.sessionService.list(userId, sessionId);
  }

  @Authorized()
  @Mutation(() => Boolean, {
    description:
      "Ends one of the caller's sessions: its refresh token stops working at once, its access tokens at their expiry. NOT_FOUND for any id that is not an active session of the caller.",
  })
  revokeSession(
    @Arg("id", () => ID) id: string,
    @Ctx() { caller, services }: Context,
  ): Promise<boolean> {
    return services.sessionService.revoke(signedIn(caller).userId, id);
  }

  @Authorized()
  @Mutation(() => Int, {
    description: "Ends every session of the caller except the current one; returns how many.",
  })
  revokeOtherSessions(@Ctx() { caller, services }: Context): Promise<number> {
    const { userId, sessionId } = signedIn(caller);
    return services.sessionService.revokeOthers(userId, sessionId);
  }
}
