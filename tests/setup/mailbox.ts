import { SmtpInbox, type CaughtMail } from "../../src/mail/smtp-inbox";
import type { BackgroundJob } from "../../src/background/background-jobs";
import type { ServiceOptions } from "../../src/services/services";
import { connectTestDatabase, disconnectTestDatabase } from "./database";
import { startTestServer, type TestServer } from "./test-server";

/**
 * A real SMTP server (smtp-server, in this process) that the server under test sends to, and
 * that tests read: recipient, subject, and the token from the link, as a person would. It can
 * refuse messages (an SMTP answer like 451 or 550), answer slowly, or go away and come back
 * on the same port.
 */
export class TestMailbox {
  /** An SMTP answer to give every DATA command instead of accepting (451 temporary, 550 final). */
  refuseWith: number | undefined;
  /** Milliseconds to wait before answering each message. */
  delayMs = 0;
  private inbox: SmtpInbox | undefined;
  private readonly received: CaughtMail[] = [];
  private readonly waiters = new Set<() => void>();
  private port = 0;

  async start(): Promise<this> {
    this.inbox = await SmtpInbox.start({
      port: this.port,
      accept: async () => {
        if (this.delayMs > 0) await new Promise((resolve) => setTimeout(resolve, this.delayMs));
        if (this.refuseWith !== undefined) {
          throw Object.assign(new Error(`refused by the test (${this.refuseWith})`), {
            responseCode: this.refuseWith,
          });
        }
      },
    });
    this.port = this.inbox.port;
    this.inbox.onMail((mail) => {
      this.received.push(mail);
      for (const waiter of this.waiters) waiter();
    });
    return this;
  }

  /** Stops listening: connections are refused until start() again, on the same port. */
  async stop(): Promise<void> {
    await this.inbox?.close();
    this.inbox = undefined;
  }

  get url(): string {
    if (!this.port) throw new Error("the test mailbox was never started");
    return `smtp://127.0.0.1:${this.port}`;
  }

  /** Everything received, oldest first. */
  all(): readonly CaughtMail[] {
    return [...this.received];
  }

  to(address: string): CaughtMail[] {
    return this.received.filter((mail) => mail.to.includes(address.toLowerCase()));
  }

  /** The `n`th message (1-based) to `address`, waiting for it up to `timeoutMs`. */
  async waitFor(address: string, n = 1, timeoutMs = 10_000): Promise<CaughtMail> {
    const found = () => this.to(address)[n - 1];
    if (found()) return found()!;
    return new Promise((resolve, reject) => {
      const check = () => {
        const mail = found();
        if (!mail) return;
        done();
        resolve(mail);
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`no message ${n} to ${address} within ${timeoutMs} ms`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      this.waiters.add(check);
    });
  }
}

/** The token in a mail's link (`?token=...`). */
export function tokenOf(mail: CaughtMail): string {
  const link = mail.links.find((l) => l.includes("token="));
  const token = link ? new URL(link).searchParams.get("token") : null;
  if (!token) throw new Error(`no link with a token in "${mail.subject}": ${mail.text}`);
  return token;
}

/** The server's mail sender, to run it directly (no lease: as a second instance would). */
export function mailSender(server: TestServer): BackgroundJob {
  const job = server.app.services.backgroundJobs.find((j) => j.name === "mail-sender");
  if (!job) throw new Error("this server has no mail sender (EMAIL_ENABLED, SMTP_URL?)");
  return job;
}

/** Runs the sender until it has nothing due. */
export async function deliverMail(server: TestServer): Promise<void> {
  const job = mailSender(server);
  for (let runs = 0; runs < 100; runs++) {
    if (!(await job.run(new AbortController().signal)).more) return;
  }
}

export interface MailServerContext {
  readonly server: TestServer;
  readonly mailbox: TestMailbox;
}

/**
 * A test file's database, a test mailbox, and one server instance with email on that sends to
 * it, links pointing at APP_URL http://app.example.test, and X-Forwarded-For trusted from
 * loopback (so tests can speak for several client addresses).
 */
export function useMailServer(
  env: Record<string, string> = {},
  options: ServiceOptions = {},
): MailServerContext {
  const mailbox = new TestMailbox();
  const holder: { server?: TestServer } = {};
  beforeAll(async () => {
    await mailbox.start();
    await connectTestDatabase();
    holder.server = await startTestServer(
      {
        EMAIL_ENABLED: "true",
        SMTP_URL: mailbox.url,
        APP_URL: TEST_APP_URL,
        TRUST_PROXY: "loopback",
        ...env,
      },
      options,
    );
  });
  afterAll(async () => {
    await holder.server?.close();
    await disconnectTestDatabase();
    await mailbox.stop();
  });
  return {
    mailbox,
    get server(): TestServer {
      if (!holder.server) throw new Error("the test server is not started yet");
      return holder.server;
    },
  };
}

export const TEST_APP_URL = "http://app.example.test";

let addresses = 0;
/** Request options that make the request come from a client address of its own. */
export function fromNewClient(): { headers: Record<string, string> } {
  addresses += 1;
  return {
    headers: {
      "x-forwarded-for": `198.51.${Math.floor(addresses / 250)}.${(addresses % 250) + 1}`,
    },
  };
}
