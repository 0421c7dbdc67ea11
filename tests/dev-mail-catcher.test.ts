import { networkInterfaces } from "node:os";
import { loadConfig, ConfigError } from "../src/config";
import { withDatabaseName } from "../src/db/connection";
import type { CaughtMail } from "../src/mail/smtp-inbox";
import { SignupDocument, VerifyEmailDocument } from "./generated/graphql";
import { expectData, newAccount } from "./setup/kit";
import { TestMailbox, tokenOf } from "./setup/mailbox";
import { killServerProcesses, spawnServer, type ServerProcess } from "./setup/server-process";

function databaseUri(name: string): string {
  const base = process.env.TEST_MONGODB_URI;
  if (!base) throw new Error("TEST_MONGODB_URI is not set: run through jest's global setup");
  return withDatabaseName(base, `${name}_${process.pid}_${Date.now()}`);
}

async function caughtMail(server: ServerProcess, to: string): Promise<CaughtMail> {
  for (let tries = 0; tries < 100; tries++) {
    const response = await fetch(`${server.origin}/dev/mail`, {
      headers: { accept: "application/json" },
    });
    const { messages } = (await response.json()) as { messages: CaughtMail[] };
    const mail = messages.find((m) => m.to.includes(to));
    if (mail) return mail;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`no mail to ${to} at /dev/mail`);
}

/** An address of this machine other than loopback, if it has one. */
function outsideAddress(): string | undefined {
  return Object.values(networkInterfaces())
    .flat()
    .find((a) => a && a.family === "IPv4" && !a.internal)?.address;
}

function problemsOf(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
    return [];
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
}

describe("the development mail catcher", () => {
  afterAll(killServerProcesses);

  it("catches every mail offline, lists it at /dev/mail, and logs each link (development only)", async () => {
    const server = await spawnServer({
      env: { NODE_ENV: "development", HOST: "0.0.0.0", MONGODB_URI: databaseUri("devmail") },
    });
    await server.waitForMessage(/^database connected/);
    const account = newAccount("dev");
    expectData(await server.execute(SignupDocument, { input: account }));

    const mail = await caughtMail(server, account.email);
    expect(mail.subject).toBe("Verify your email address for graphql-jwt-auth");
    const token = tokenOf(mail);
    // APP_URL unset: the server's own example app.
    const link = `http://localhost:${server.port}/app/verify-email?token=${token}`;
    expect(mail.links).toContain(link);
    // In development the log has the link too: the one place outside the mail it may be.
    const logged = await server.waitForMessage(/^mail sent \(development/);
    expect(logged).toBeTruthy();
    expect(server.lines.some((line) => line.includes(link))).toBe(true);

    const page = await fetch(`${server.origin}/dev/mail`);
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toMatch(/^text\/html/);
    const csp = page.headers.get("content-security-policy") ?? "";
    expect(csp).toMatch(/default-src 'none'/);
    expect(csp).toMatch(/style-src 'sha256-[A-Za-z0-9+/=]+'/);
    expect(csp).toMatch(/frame-ancestors 'none'/);
    expect(csp).not.toMatch(/unsafe|script-src/);
    expect(page.headers.get("x-frame-options")).toBe("DENY");
    expect(page.headers.get("x-content-type-options")).toBe("nosniff");
    expect(page.headers.get("referrer-policy")).toBe("no-referrer");
    expect(page.headers.get("cache-control")).toBe("no-store");
    const html = await page.text();
    expect(html).toContain(`href="${link}"`);
    expect(html).not.toMatch(/<script/i);

    const htmlVersion = await fetch(`${server.origin}/dev/mail/${mail.id}/html`);
    expect(htmlVersion.status).toBe(200);
    expect(htmlVersion.headers.get("content-security-policy")).toMatch(
      /^sandbox; default-src 'none'/,
    );
    expect(await htmlVersion.text()).toContain(`href="${link}"`);

    expect(
      expectData(await server.execute(VerifyEmailDocument, { token })).verifyEmail,
    ).toMatchObject({ emailVerified: true });

    // Only for this machine: another one gets the same 404 as for any unknown path.
    const address = outsideAddress();
    if (address) {
      const remote = await fetch(`http://${address}:${server.port}/dev/mail`);
      expect(remote.status).toBe(404);
      expect(await remote.text()).not.toContain(token);
    }
  }, 60_000);

  it("outside development the catcher still works, but no link reaches the log", async () => {
    const server = await spawnServer({ env: { MONGODB_URI: databaseUri("testmail") } });
    await server.waitForMessage(/^database connected/);
    const account = newAccount("quiet");
    expectData(await server.execute(SignupDocument, { input: account }));
    const mail = await caughtMail(server, account.email);
    await server.waitForMessage(/^mail sent$/);
    expect(server.lines.join("\n")).not.toContain(tokenOf(mail));
  }, 60_000);

  it("in production mail goes to SMTP_URL, and there is no /dev/mail", async () => {
    const mailbox = await new TestMailbox().start();
    try {
      const server = await spawnServer({
        env: {
          NODE_ENV: "production",
          MONGODB_URI: databaseUri("prodmail"),
          BCRYPT_ROUNDS: "10",
          SMTP_URL: mailbox.url,
          MAIL_FROM: "Example <no-reply@example.com>",
          APP_URL: "https://app.example.com/",
        },
      });
      await server.waitForMessage(/^database connected/);
      expect((await fetch(`${server.origin}/dev/mail`)).status).toBe(404);
      const account = newAccount("prod");
      expectData(await server.execute(SignupDocument, { input: account }));
      const mail = await mailbox.waitFor(account.email);
      expect(mail.from).toBe('"Example" <no-reply@example.com>');
      expect(mail.links[0]).toMatch(/^https:\/\/app\.example\.com\/verify-email\?token=/);
      expect(server.lines.join("\n")).not.toContain(tokenOf(mail));
    } finally {
      await mailbox.stop();
    }
  }, 60_000);

  it("production with email on needs SMTP_URL, MAIL_FROM and APP_URL; email off needs none", () => {
    const production = {
      NODE_ENV: "production",
      JWT_SECRET: "x".repeat(32),
      MONGODB_URI: "mongodb://127.0.0.1:27017/auth",
    };
    expect(problemsOf(production)).toEqual([
      "SMTP_URL is required when NODE_ENV=production and email is on (EMAIL_ENABLED=false turns email off)",
      "MAIL_FROM is required when NODE_ENV=production and email is on (EMAIL_ENABLED=false turns email off)",
      "APP_URL is required when NODE_ENV=production and email is on (EMAIL_ENABLED=false turns email off)",
    ]);
    expect(problemsOf({ ...production, EMAIL_ENABLED: "false" })).toEqual([]);
    expect(
      problemsOf({ ...production, EMAIL_ENABLED: "false", REQUIRE_EMAIL_VERIFICATION: "true" }),
    ).toEqual([
      "REQUIRE_EMAIL_VERIFICATION=true needs email: it cannot be on with EMAIL_ENABLED=false",
    ]);
    // A problem with SMTP_URL never repeats its value: it may hold the password.
    const problems = problemsOf({ SMTP_URL: "https://user:s3cret@mail.example.com" });
    expect(problems).toHaveLength(1);
    expect(problems[0]).not.toContain("s3cret");
    // One line each: a CR or LF in MAIL_FROM would let it add headers.
    expect(problemsOf({ MAIL_FROM: "a@example.com\r\nBcc: victim@example.com" })).toHaveLength(1);
    expect(
      loadConfig({
        ...production,
        SMTP_URL: "smtps://user:pass@smtp.example.com:465",
        MAIL_FROM: "no-reply@example.com",
        APP_URL: "https://app.example.com/",
      }).email,
    ).toEqual({
      enabled: true,
      smtpUrl: "smtps://user:pass@smtp.example.com:465",
      from: "no-reply@example.com",
      appUrl: "https://app.example.com",
      verificationTtlSeconds: 86_400,
      passwordResetTtlSeconds: 1_800,
    });
  });
});
