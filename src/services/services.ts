import pino from "pino";
import { AccessTokens } from "../auth/access-tokens";
import { hmacKeyRing, ManagedKeyRing, staticKeyRing, type KeyRing } from "../auth/signing-keys";
import type { BackgroundJob } from "../background/background-jobs";
import { Leases } from "../background/leases";
import { createPasswordHasher, type PasswordHasher } from "../auth/passwords";
import { systemClock, type Clock } from "../clock";
import type { Config } from "../config";
import type { Logger } from "../logger";
import type { AppLinks } from "../mail/app-links";
import type { AccountRecovery } from "./account-recovery.service";
import { AccountNames } from "./account-names";
import { AdminRoster } from "./admin-roster";
import { AccountRemoval } from "./account-removal";
import { AdminService } from "./admin.service";
import { AuthService } from "./auth.service";
import { SessionService } from "./session.service";
import { createRecoveryServices } from "./recovery-services";
import { RefreshTokens } from "./refresh-tokens";
import { RetentionSweep } from "./retention-sweep";
import { SecurityEvents } from "./security-events";
import { SessionStore } from "./sessions";
import { SigninThrottle } from "./signin-throttle";
import { AuthenticationError } from "../errors";
import { toObjectId, UserStore } from "./user-store";
import { UserService } from "./user.service";

/** Everything a request needs, built once per server instance from its config. */
export interface Services {
  readonly clock: Clock;
  readonly events: SecurityEvents;
  readonly accessTokens: AccessTokens;
  readonly passwords: PasswordHasher;
  readonly sessions: SessionStore;
  readonly roster: AdminRoster;
  readonly users: UserService;
  readonly auth: AuthService;
  readonly sessionService: SessionService;
  readonly admin: AdminService;
  readonly accountRemoval: AccountRemoval;
  /** Verify an address, reset or change a password (mail through the outbox). */
  readonly recovery: AccountRecovery;
  /** Where links in mail point; told the server's origin once it listens. */
  readonly links: AppLinks;
  readonly leases: Leases;
  /** The server's own rotating keys; undefined with JWT_SECRET or JWT_PRIVATE_KEY. */
  readonly managedKeys: ManagedKeyRing | undefined;
  /**
   * With REVOKED_SESSION_CHECK: throws SESSION_REVOKED unless the session is live (one _id
   * lookup). Without it: undefined, and authorization reads nothing from the database.
   */
  readonly checkSession: ((sessionId: string) => Promise<void>) | undefined;
  /** Work that runs in the background, each under a lease (one instance at a time). */
  readonly backgroundJobs: readonly BackgroundJob[];
}

export interface ServiceOptions {
  /** Time for every rule; tests pass a clock they move. */
  readonly clock?: Clock;
  readonly logger?: Logger;
  /** Where mail goes when SMTP_URL is unset: the development catcher (server.ts). */
  readonly smtpUrl?: string;
}

export function createServices(config: Config, options: ServiceOptions = {}): Services {
  const clock = options.clock ?? systemClock;
  const events = new SecurityEvents();
  const managedKeys =
    config.jwt.algorithm !== "HS256" && config.jwt.privateKeyPem === undefined
      ? new ManagedKeyRing(
          {
            algorithm: config.jwt.algorithm,
            rotationSeconds: config.jwt.keyRotationSeconds,
            accessTokenTtlSeconds: config.accessTokenTtlSeconds,
            encryptionSecret: config.jwt.keyEncryptionSecret,
          },
          clock,
        )
      : undefined;
  const keys: KeyRing =
    managedKeys ??
    (config.jwt.algorithm === "HS256"
      ? hmacKeyRing(config.jwt.secret ?? "")
      : staticKeyRing(config.jwt.privateKeyPem ?? "", config.jwt.algorithm));
  const accessTokens = new AccessTokens({
    keys,
    claimsPreset: config.jwt.claimsPreset,
    issuer: config.jwt.issuer,
    audience: config.jwt.audience,
    ttlSeconds: config.accessTokenTtlSeconds,
    clock,
  });
  const passwords = createPasswordHasher(config.bcryptRounds, { workers: config.passwordWorkers });
  const userStore = new UserStore(clock);
  const names = new AccountNames(clock, userStore);
  const roster = new AdminRoster(clock);
  const sessions = new SessionStore(clock, config.sessionMaxAgeSeconds);
  const refreshTokens = new RefreshTokens(
    {
      refreshTokenTtlSeconds: config.refreshTokenTtlSeconds,
      reuseGraceSeconds: config.refreshReuseGraceSeconds,
    },
    clock,
    sessions,
    events,
  );
  const throttle = new SigninThrottle(
    {
      maxFailuresPerPair: config.signinThrottle.maxFailuresPerPair,
      maxFailuresPerIp: config.signinThrottle.maxFailuresPerIp,
      maxFailuresPerAccount: config.signinThrottle.maxFailuresPerAccount,
      knownAddressDays: config.signinThrottle.knownAddressDays,
      windowSeconds: config.signinThrottle.windowSeconds,
      lockoutBaseSeconds: config.signinThrottle.lockoutBaseSeconds,
      lockoutMaxSeconds: config.signinThrottle.lockoutMaxSeconds,
    },
    clock,
  );
  const auth = new AuthService({
    clock,
    passwords,
    accessTokens,
    users: userStore,
    names,
    sessions,
    refreshTokens,
    throttle,
    events,
    policy: { requireEmailVerification: config.requireEmailVerification },
  });
  const leases = new Leases(clock);
  const mail = createRecoveryServices(config, {
    clock,
    logger: options.logger ?? pino({ level: "silent" }),
    leases,
    users: userStore,
    names,
    sessions,
    throttle,
    passwords,
    auth,
    events,
    smtpUrl: config.email.smtpUrl ?? options.smtpUrl,
  });
  const accountRemoval = new AccountRemoval({
    clock,
    users: userStore,
    names,
    roster,
    sessions,
    throttle,
    events,
    auth,
    extraSteps: mail.purgeSteps,
  });
  const sweep = new RetentionSweep(clock, config.retentionDays, userStore, mail.sweepSteps);
  return {
    clock,
    events,
    leases,
    backgroundJobs: [sweep, accountRemoval, ...mail.jobs, ...(managedKeys ? [managedKeys] : [])],
    managedKeys,
    sessionService: new SessionService(sessions, events),
    admin: new AdminService({
      clock,
      users: userStore,
      roster,
      sessions,
      removal: accountRemoval,
      events,
    }),
    accountRemoval,
    checkSession: config.revokedSessionCheck
      ? async (sessionId) => {
          const id = toObjectId(sessionId);
          const session = id ? await sessions.findById(id) : null;
          if (!sessions.isLive(session)) throw new AuthenticationError("SESSION_REVOKED");
        }
      : undefined,
    accessTokens,
    passwords,
    sessions,
    roster,
    users: new UserService({
      clock,
      passwords,
      users: userStore,
      names,
      roster,
      events,
      verificationMail: mail.recovery,
    }),
    auth,
    recovery: mail.recovery,
    links: mail.links,
  };
}
