import type { PasswordHasher } from "../auth/passwords";
import type { Leases } from "../background/leases";
import type { BackgroundJob } from "../background/background-jobs";
import { mailLogCollection, outboxCollection } from "../entities/mail.entity";
import type { AccountPurgeStep } from "./account-removal";
import type { Clock } from "../clock";
import type { Config } from "../config";
import { emailTokenCollection } from "../entities/email-token.entity";
import type { Logger } from "../logger";
import { AppLinks } from "../mail/app-links";
import { MailComposer } from "../mail/mail-composer";
import { smtpTransport } from "../mail/mail-transport";
import { deleteOlderThan, mailSweepSteps, MailSender, Outbox } from "../mail/outbox";
import { AccountRecovery } from "./account-recovery.service";
import type { AccountNames } from "./account-names";
import type { AuthService } from "./auth.service";
import { EmailTokens } from "./email-tokens";
import { RateLimiter } from "./rate-limiter";
import type { SweepStep } from "./retention-sweep";
import type { SecurityEvents } from "./security-events";
import type { SessionStore } from "./sessions";
import type { SigninThrottle } from "./signin-throttle";
import type { UserStore } from "./user-store";

export interface RecoveryServices {
  readonly recovery: AccountRecovery;
  readonly links: AppLinks;
  /** The mail sender, when email is on and there is an SMTP server to send to. */
  readonly jobs: readonly BackgroundJob[];
  readonly sweepSteps: readonly SweepStep[];
  /** What a deleted account leaves in mail: its tokens, unsent mail, and the log of its mail. */
  readonly purgeSteps: readonly AccountPurgeStep[];
}

/** Account recovery and the mail it sends, built from the config (see services.ts). */
export function createRecoveryServices(
  config: Config,
  deps: {
    readonly clock: Clock;
    readonly logger: Logger;
    readonly leases: Leases;
    readonly users: UserStore;
    readonly names: AccountNames;
    readonly sessions: SessionStore;
    readonly throttle: SigninThrottle;
    readonly passwords: PasswordHasher;
    readonly auth: AuthService;
    readonly events: SecurityEvents;
    /** SMTP_URL, or the development catcher's address. */
    readonly smtpUrl: string | undefined;
  },
): RecoveryServices {
  const { clock, logger } = deps;
  const email = config.email;
  const ttlSeconds = {
    verification: email.verificationTtlSeconds,
    passwordReset: email.passwordResetTtlSeconds,
  };
  const tokens = new EmailTokens(clock, {
    "verify-email": ttlSeconds.verification,
    "password-reset": ttlSeconds.passwordReset,
  });
  const links = new AppLinks(email.appUrl);
  const outbox = new Outbox(clock);
  const sender =
    email.enabled && deps.smtpUrl
      ? new MailSender({
          clock,
          outbox,
          composer: new MailComposer({ ...deps, tokens, links, ttlSeconds }),
          transport: smtpTransport(deps.smtpUrl, email.from),
          logger,
          holder: deps.leases.holder,
          // The only place a link with a token is written outside the mail itself.
          logLinks: config.nodeEnv === "development",
        })
      : undefined;
  const recovery = new AccountRecovery({
    ...deps,
    emailEnabled: email.enabled,
    outbox,
    tokens,
    limiter: new RateLimiter(clock),
  });
  return {
    recovery,
    links,
    jobs: sender ? [sender] : [],
    sweepSteps: [
      ...mailSweepSteps(),
      deleteOlderThan("email-tokens", emailTokenCollection, "expiresAt"),
    ],
    purgeSteps: [
      {
        name: "mail",
        async purge(userIds) {
          await emailTokenCollection.deleteMany({ userId: { $in: [...userIds] } });
          await outboxCollection.deleteMany({ userId: { $in: [...userIds] } });
          await mailLogCollection.deleteMany({ userId: { $in: [...userIds] } });
        },
      },
    ],
  };
}
