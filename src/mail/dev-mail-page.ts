import { createHash } from "node:crypto";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { errorBody } from "../graphql/error-handling";
import type { SmtpInbox } from "./smtp-inbox";
import { escapeHtml } from "./templates";

export const DEV_MAIL_PATH = "/dev/mail";

const STYLE = [
  "body { font-family: sans-serif; margin: 2em; max-width: 60em }",
  "article { border-top: 1px solid #ccc; padding: 0.5em 0 }",
  "pre { white-space: pre-wrap; background: #f6f6f6; padding: 0.5em }",
  ".meta { color: #555 }",
].join("\n");

/**
 * Nothing on the page runs or loads: no script at all, and the one inline style allowed by its
 * hash. Mail bodies are shown as escaped text; a message's HTML version opens on its own,
 * sandboxed, page.
 */
const LIST_CSP = [
  "default-src 'none'",
  `style-src 'sha256-${createHash("sha256").update(STYLE).digest("base64")}'`,
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'none'",
].join("; ");

/** Our templates style with attributes; a sandbox without scripts runs nothing, loads nothing. */
const MAIL_HTML_CSP = [
  "sandbox",
  "default-src 'none'",
  "style-src 'unsafe-inline'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'none'",
].join("; ");

/** The socket's address, not X-Forwarded-For: this page is for the developer's own machine. */
function fromThisMachine(request: FastifyRequest): boolean {
  const address = request.socket.remoteAddress ?? "";
  return address === "::1" || address.startsWith("127.") || address.startsWith("::ffff:127.");
}

function linkList(links: readonly string[]): string {
  if (links.length === 0) return "";
  const items = links.map(
    (link) => `<li><a href="${escapeHtml(link)}" rel="noreferrer">${escapeHtml(link)}</a></li>`,
  );
  return `<ul class="links">${items.join("")}</ul>`;
}

function listPage(inbox: SmtpInbox): string {
  const messages = inbox.list();
  const articles = messages.map(
    (mail) => `<article data-mail-id="${escapeHtml(mail.id)}">
<h2>${escapeHtml(mail.subject)}</h2>
<p class="meta">To <span class="to">${escapeHtml(mail.to.join(", "))}</span> · from ${escapeHtml(mail.from)} · ${escapeHtml(mail.receivedAt.toISOString())}${mail.html ? ` · <a href="${DEV_MAIL_PATH}/${escapeHtml(mail.id)}/html">HTML version</a>` : ""}</p>
${linkList(mail.links)}
<pre>${escapeHtml(mail.text)}</pre>
</article>`,
  );
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Mail (development)</title>
<style>${STYLE}</style></head>
<body>
<h1>Mail sent by this server (development)</h1>
<p>Every message this server sent since it started, newest first, caught by its built-in SMTP server (at ${escapeHtml(inbox.url)}). Reload for new ones; <code>Accept: application/json</code> gives the same list as JSON.</p>
${articles.length > 0 ? articles.join("\n") : "<p>No mail yet.</p>"}
</body></html>`;
}

/**
 * The development mail catcher's mailbox, at /dev/mail: a list in HTML, or in JSON for
 * `Accept: application/json` (scripts, tests). Registered only when the catcher runs (no
 * SMTP_URL, not production), answered only to this machine, never cached: the links carry
 * tokens.
 */
export function serveDevMailPage(app: FastifyInstance, inbox: SmtpInbox): void {
  /** Like any unknown path: nothing tells another machine the page exists. */
  const notFound = (reply: FastifyReply) =>
    reply
      .code(404)
      .type("application/json; charset=utf-8")
      .send(errorBody("Not found.", "NOT_FOUND"));

  app.get(DEV_MAIL_PATH, async (request, reply) => {
    if (!fromThisMachine(request)) return notFound(reply);
    void reply.header("cache-control", "no-store");
    if (request.accepts().type(["html", "json"]) === "json") {
      return { messages: inbox.list() };
    }
    return reply
      .header("content-security-policy", LIST_CSP)
      .type("text/html; charset=utf-8")
      .send(listPage(inbox));
  });

  app.get<{ Params: { id: string } }>(`${DEV_MAIL_PATH}/:id/html`, async (request, reply) => {
    const mail = inbox.list().find((m) => m.id === request.params.id);
    if (!fromThisMachine(request) || !mail?.html) return notFound(reply);
    return reply
      .header("cache-control", "no-store")
      .header("content-security-policy", MAIL_HTML_CSP)
      .type("text/html; charset=utf-8")
      .send(mail.html);
  });
}
