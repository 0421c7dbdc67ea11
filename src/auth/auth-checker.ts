import type { AuthCheckerFn } from "type-graphql";
import type { Context } from "../context";
import { AuthenticationError, PermissionError } from "../errors";
import type { Role } from "../entities/role";

/**
 * The one place that decides @Authorized fields, from the verified token's claims only (no
 * database read). It throws instead of returning false so the codes are ours: type-graphql's
 * own errors would say UNAUTHORIZED where our contract says FORBIDDEN.
 */
export const authChecker: AuthCheckerFn<Context, Role> = ({ context }, requiredRoles) => {
  const { caller } = context;
  if (caller.kind === "invalid-token") throw new AuthenticationError(caller.reason);
  if (caller.kind === "anonymous") throw new AuthenticationError();
  if (
    requiredRoles.length > 0 &&
    !requiredRoles.some((role) => caller.claims.roles.includes(role))
  ) {
    throw new PermissionError();
  }
  // Only with REVOKED_SESSION_CHECK does authorization wait on the database.
  if (!context.services.checkSession) return true;
  return context.sessionCheck().then(() => true);
};
