import { randomBytes } from "node:crypto";
import type { AddressInfo } from "node:net";
import { simpleParser, type AddressObject } from "mailparser";
import { SMTPServer, type SMTPServerDataStream } from "smtp-server";

/** A message as an SMTP server received it, parsed. */
export interface CaughtMail {
  readonly id: string;
  readonly receivedAt: Date;
  readonly from: string;
  /** The envelope's recipients (RCPT TO), lowercased. */
  readonly to: readonly string[];
  readonly subject: string;
  readonly text: string;
  readonly html: string | null;
  /** http(s) links in the text body, in order. */
  readonly links: readonly string[];
}

export interface SmtpInboxOptions {
  readonly host?: string;
  /** 0 (the default) picks a free port. */
  readonly port?: number;
  /** Messages kept, newest first; older ones are forgotten. */
  readonly keep?: number;
  /**
   * Decides on each parsed message before it is kept: throwing an Error with a
   * `responseCode` (say 451 or 550) makes the server answer the DATA command with it.
   */
  readonly accept?: (mail: CaughtMail) => Promise<void> | void;
}

const MAX_MESSAGE_BYTES = 1_048_576;

function addresses(field: AddressObject | AddressObject[] | undefined): string {
  if (!field) return "";
  return (Array.isArray(field) ? field : [field]).map((a) => a.text).join(", ");
}

/**
 * A real SMTP server (smtp-server) that keeps what it receives in memory, parsed by mailparser:
 * the development mail catcher, and the mailbox the tests read. Loopback, no TLS, no AUTH:
 * for this machine only.
 */
export class SmtpInbox {
  private constructor(
    private readonly server: SMTPServer,
    readonly host: string,
    readonly port: number,
    private readonly messages: CaughtMail[],
    private readonly listeners: Set<(mail: CaughtMail) => void>,
  ) {}

  static async start(options: SmtpInboxOptions = {}): Promise<SmtpInbox> {
    const host = options.host ?? "127.0.0.1";
    const keep = options.keep ?? 100;
    const messages: CaughtMail[] = [];
    const listeners = new Set<(mail: CaughtMail) => void>();
    const server = new SMTPServer({
      authOptional: true,
      disabledCommands: ["AUTH", "STARTTLS"],
      banner: "graphql-jwt-auth mail catcher",
      size: MAX_MESSAGE_BYTES,
      logger: false,
      // A stop (tests, shutdown) does not wait half a minute for a client to say QUIT.
      closeTimeout: 500,
      onData(stream: SMTPServerDataStream, session, callback) {
        const to = session.envelope.rcptTo.map((rcpt) => rcpt.address.toLowerCase());
        simpleParser(stream)
          .then(async (parsed) => {
            const text = parsed.text ?? "";
            const mail: CaughtMail = {
              id: randomBytes(8).toString("hex"),
              receivedAt: new Date(),
              from: addresses(parsed.from),
              to,
              subject: parsed.subject ?? "",
              text,
              html: typeof parsed.html === "string" ? parsed.html : null,
              links: text.match(/https?:\/\/[^\s<>"]+/g) ?? [],
            };
            if (stream.sizeExceeded) {
              throw Object.assign(new Error("Message too big"), { responseCode: 552 });
            }
            await options.accept?.(mail);
            messages.unshift(mail);
            messages.splice(keep);
            for (const listener of listeners) listener(mail);
            callback();
          })
          .catch((error: unknown) => callback(error as Error));
      },
    });
    await new Promise<void>((resolve, reject) => {
      server.server.once("error", reject);
      server.listen(options.port ?? 0, host, () => {
        server.server.off("error", reject);
        resolve();
      });
    });
    // A client that misbehaves costs its own connection, never the process.
    server.on("error", () => undefined);
    const { port } = server.server.address() as AddressInfo;
    return new SmtpInbox(server, host, port, messages, listeners);
  }

  /** What nodemailer connects to. */
  get url(): string {
    return `smtp://${this.host}:${this.port}`;
  }

  /** Newest first. */
  list(): readonly CaughtMail[] {
    return [...this.messages];
  }

  onMail(listener: (mail: CaughtMail) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
