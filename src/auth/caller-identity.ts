import type { Types } from "mongoose";
import { AuthenticationError } from "../errors";
import { toObjectId } from "../services/user-store";
import type { Caller } from "./caller";

/** The signed-in caller's account id and session id, or the error a client should see. */
export function signedIn(caller: Caller): { userId: Types.ObjectId; sessionId: string } {
  if (caller.kind === "invalid-token") throw new AuthenticationError(caller.reason);
  const userId = caller.kind === "authenticated" ? toObjectId(caller.claims.userId) : undefined;
  if (caller.kind !== "authenticated" || !userId) throw new AuthenticationError();
  return { userId, sessionId: caller.claims.sessionId };
}
