/*
 * Every mail the server sends, as text and HTML, in one place. Values are escaped for HTML
 * here and nowhere else; nothing in a template loads anything (no images, no styles from
 * elsewhere), so the mail shows the same offline and tells no tracker it was opened.
 */

export interface RenderedMail {
  readonly subject: string;
  readonly text: string;
  readonly html: string;
}

const PRODUCT = "graphql-jwt-auth";

const HTML_ESCAPES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
};

export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]!);
}

/** "30 minutes", "24 hours", "1 day and 2 hours": how long a link works, for people. */
export function describeDuration(seconds: number): string {
  const units: [number, string][] = [
    [86_400, "day"],
    [3_600, "hour"],
    [60, "minute"],
    [1, "second"],
  ];
  if (seconds % 86_400 === 0 && seconds <= 86_400) return `${seconds / 3_600} hours`;
  const parts: string[] = [];
  let rest = Math.max(0, Math.round(seconds));
  for (const [size, name] of units) {
    const count = Math.floor(rest / size);
    if (count > 0 && parts.length < 2) parts.push(`${count} ${name}${count === 1 ? "" : "s"}`);
    rest -= count * size;
  }
  return parts.join(" and ") || "0 seconds";
}

function page(title: string, paragraphs: readonly string[]): string {
  return [
    "<!doctype html>",
    '<html lang="en"><head><meta charset="utf-8">',
    `<title>${escapeHtml(title)}</title></head>`,
    '<body style="font-family: sans-serif; line-height: 1.5; max-width: 36em">',
    ...paragraphs.map((p) => `<p>${p}</p>`),
    `<p style="color: #666">${escapeHtml(PRODUCT)}</p>`,
    "</body></html>",
  ].join("\n");
}

function button(link: string, label: string): string {
  return `<a href="${escapeHtml(link)}" style="font-weight: bold">${escapeHtml(label)}</a>`;
}

interface TokenMail {
  readonly username: string;
  /** The page that takes the token, with it in the query. */
  readonly link: string;
  /** Also in the text, for clients that call the API themselves. */
  readonly token: string;
  readonly ttlSeconds: number;
}

export function verificationMail(mail: TokenMail): RenderedMail {
  const subject = `Verify your email address for ${PRODUCT}`;
  const ttl = describeDuration(mail.ttlSeconds);
  const text = [
    `Hello ${mail.username},`,
    "",
    "Open this link to verify your email address:",
    "",
    mail.link,
    "",
    `The link works once, for ${ttl}. Or send the token yourself:`,
    `mutation { verifyEmail(token: "${mail.token}") { emailVerified } }`,
    "",
    "If you did not sign up, ignore this email: nothing happens.",
  ].join("\n");
  const html = page(subject, [
    `Hello ${escapeHtml(mail.username)},`,
    `Open this link to verify your email address: ${button(mail.link, "Verify my email address")}`,
    `The link works once, for ${escapeHtml(ttl)}. The token, for clients that call the API: <code>${escapeHtml(mail.token)}</code>`,
    "If you did not sign up, ignore this email: nothing happens.",
  ]);
  return { subject, text, html };
}

export function passwordResetMail(mail: TokenMail): RenderedMail {
  const subject = `Reset your ${PRODUCT} password`;
  const ttl = describeDuration(mail.ttlSeconds);
  const text = [
    `Hello ${mail.username},`,
    "",
    "Someone (we hope you) asked to reset your password. Open this link to choose a new one:",
    "",
    mail.link,
    "",
    `The link works once, for ${ttl}; only the newest link we sent works. Or send the token yourself:`,
    `mutation { resetPassword(token: "${mail.token}", newPassword: "...") }`,
    "",
    "Resetting signs you out everywhere. If you did not ask, ignore this email: your password",
    "stays as it is.",
  ].join("\n");
  const html = page(subject, [
    `Hello ${escapeHtml(mail.username)},`,
    `Someone (we hope you) asked to reset your password. ${button(mail.link, "Choose a new password")}`,
    `The link works once, for ${escapeHtml(ttl)}; only the newest link we sent works. The token, for clients that call the API: <code>${escapeHtml(mail.token)}</code>`,
    "Resetting signs you out everywhere. If you did not ask, ignore this email: your password stays as it is.",
  ]);
  return { subject, text, html };
}

export function passwordChangedMail(mail: {
  readonly username: string;
  readonly how: "change" | "reset";
  readonly at: Date;
  /** Where to start a reset, if this was not the owner. */
  readonly forgotLink: string;
}): RenderedMail {
  const subject = `Your ${PRODUCT} password was changed`;
  const what =
    mail.how === "reset"
      ? "Your password was reset with a link we emailed you"
      : "Your password was changed by someone signed in to your account";
  const when = `${mail.at.toISOString().replace("T", " ").slice(0, 19)} UTC`;
  const text = [
    `Hello ${mail.username},`,
    "",
    `${what}, at ${when}. Every other session was signed out.`,
    "",
    "If this was not you, reset your password now and check the email address of your account:",
    mail.forgotLink,
  ].join("\n");
  const html = page(subject, [
    `Hello ${escapeHtml(mail.username)},`,
    `${escapeHtml(what)}, at ${escapeHtml(when)}. Every other session was signed out.`,
    `If this was not you, ${button(mail.forgotLink, "reset your password now")} and check the email address of your account.`,
  ]);
  return { subject, text, html };
}
