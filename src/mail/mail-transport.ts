import { isIP } from "node:net";
import nodemailer from "nodemailer";

export interface OutgoingMail {
  readonly to: string;
  readonly subject: string;
  readonly text: string;
  readonly html: string;
}

/** Where mail goes: SMTP in every configuration (the development catcher is an SMTP server). */
export interface MailTransport {
  send(mail: OutgoingMail): Promise<void>;
  close(): void;
}

/** An SMTP answer of 5xx is final (RFC 5321 4.2.1): sending the same message again cannot help. */
export function isPermanentFailure(error: unknown): boolean {
  const code = (error as { responseCode?: unknown } | null)?.responseCode;
  return typeof code === "number" && code >= 500 && code < 600;
}

/** What the log may say about a failure: the server's answer or the network error, no more. */
export function describeFailure(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.slice(0, 500);
}

function isLoopback(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, "");
  if (bare === "localhost") return true;
  if (isIP(bare) === 4) return bare.startsWith("127.");
  return bare === "::1";
}

/**
 * nodemailer over SMTP, one connection per message (nothing stays open between sends, so a
 * stopped server is noticed at the next message). Its default timeouts would let one attempt
 * hang for minutes; these bound it, so a claimed attempt always ends long before another
 * instance may take it over (outbox.ts). A plain smtp:// URL to another host must upgrade
 * with STARTTLS: the credentials never cross the network in clear.
 */
export function smtpTransport(url: string, from: string): MailTransport {
  const host = new URL(url).hostname;
  const transporter = nodemailer.createTransport(
    {
      url,
      connectionTimeout: 10_000,
      greetingTimeout: 10_000,
      socketTimeout: 30_000,
      requireTLS: url.startsWith("smtp:") && !isLoopback(host),
    },
    { from },
  );
  return {
    async send(mail) {
      await transporter.sendMail({
        to: mail.to,
        subject: mail.subject,
        text: mail.text,
        html: mail.html,
        // RFC 3834: no out-of-office replies to a machine.
        headers: { "Auto-Submitted": "auto-generated" },
      });
    },
    close: () => transporter.close(),
  };
}
