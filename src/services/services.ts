import { AccessTokens } from "../auth/access-tokens";
import { createPasswordHasher, type PasswordHasher } from "../auth/passwords";
import type { Config } from "../config";
import { AuthService } from "./auth.service";
import { SigninThrottle } from "./signin-throttle";
import { UserService } from "./user.service";

/** Everything a request needs, built once per server instance from its config. */
export interface Services {
  readonly accessTokens: AccessTokens;
  readonly passwords: PasswordHasher;
  readonly users: UserService;
  readonly auth: AuthService;
}

export function createServices(config: Config): Services {
  const accessTokens = new AccessTokens({
    secret: config.jwt.secret,
    issuer: config.jwt.issuer,
    audience: config.jwt.audience,
    ttlSeconds: config.accessTokenTtlSeconds,
  });
  const passwords = createPasswordHasher(config.bcryptRounds, { workers: config.passwordWorkers });
  return {
    accessTokens,
    passwords,
    users: new UserService(passwords),
    auth: new AuthService(
      passwords,
      accessTokens,
      {
        refreshTokenTtlSeconds: config.refreshTokenTtlSeconds,
        sessionMaxAgeSeconds: config.sessionMaxAgeSeconds,
      },
      new SigninThrottle({
        account: { maxFailures: config.signinThrottle.maxFailuresPerAccount },
        ip: { maxFailures: config.signinThrottle.maxFailuresPerIp },
        windowSeconds: config.signinThrottle.windowSeconds,
        lockoutBaseSeconds: config.signinThrottle.lockoutBaseSeconds,
        lockoutMaxSeconds: config.signinThrottle.lockoutMaxSeconds,
      }),
    ),
  };
}
