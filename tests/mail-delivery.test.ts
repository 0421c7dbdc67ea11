import mongoose from "mongoose";
import {
  RequestPasswordResetDocument,
  ResetPasswordDocument,
  SignupDocument,
} from "./generated/graphql";
import { MAX_ATTEMPTS, retryDelayMs, STALE_CLAIM_MS } from "../src/mail/outbox";
import { ManualClock } from "./setup/clock";
import { expectData, newAccount, signin } from "./setup/kit";
import { deliverMail, fromNewClient, TestMailbox, tokenOf, useMailServer } from "./setup/mailbox";
import { startTestServer, type TestServer } from "./setup/test-server";

const DAY = 86_400;
const RETENTION_DAYS = 30;

const db = () => mongoose.connection.db!;
const outbox = () =>
  db().collection<{ _id: string; attempts: number; nextAttemptAt: Date; lastError?: string }>(
    "mail_outbox",
  );
const mailLog = () =>
  db().collection<{ _id: string; outcome: string; attempts: number; kind: string; error?: string }>(
    "mail_log",
  );

interface LogLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}

function logLines(server: TestServer, msg: RegExp): LogLine[] {
  return server.logs
    .map((line) => JSON.parse(line) as LogLine)
    .filter((line) => msg.test(line.msg));
}

/**
 * The outbox: a request only queues; a background sender delivers, retries with back-off,
 * gives up loudly, and sends each message once however many instances run it. The automatic
 * runs are stopped here so each test decides when the sender runs.
 */
describe("mail delivery through the outbox", () => {
  const clock = new ManualClock();
  const ctx = useMailServer({ RETENTION_DAYS: String(RETENTION_DAYS) }, { clock });

  beforeAll(async () => {
    await ctx.server.app.background.stop();
  });

  /** An account whose verification mail has been delivered. */
  async function deliveredAccount() {
    const account = newAccount("outbox");
    expectData(await ctx.server.execute(SignupDocument, { input: account }));
    await deliverMail(ctx.server);
    await ctx.mailbox.waitFor(account.email);
    return account;
  }

  /** Queues a reset for the address and returns the queued message's id. */
  async function queueReset(email: string): Promise<string> {
    const before = new Set((await outbox().find().toArray()).map((m) => m._id));
    const answer = await ctx.server.execute(
      RequestPasswordResetDocument,
      { email },
      fromNewClient(),
    );
    expect(expectData(answer).requestPasswordReset).toBe(true);
    const queued = (await outbox().find().toArray()).filter((m) => !before.has(m._id));
    expect(queued).toHaveLength(1);
    return queued[0]!._id;
  }

  async function accountWithQueuedReset() {
    const account = await deliveredAccount();
    return { account, id: await queueReset(account.email) };
  }

  it("with SMTP down the request still answers, the message is retried with back-off and delivered when SMTP is back", async () => {
    const account = await deliveredAccount();
    await ctx.mailbox.stop();
    // The request does not talk to SMTP: it answers as always.
    const id = await queueReset(account.email).finally(() => undefined);
    await deliverMail(ctx.server);
    let message = await outbox().findOne({ _id: id });
    expect(message).toMatchObject({ attempts: 1 });
    expect(message!.nextAttemptAt.getTime()).toBe(clock.nowMs() + retryDelayMs(1));
    expect(message!.lastError).toMatch(/ECONNREFUSED/);
    expect(logLines(ctx.server, /^mail delivery failed; will retry/).length).toBeGreaterThan(0);

    // Not due yet: nothing happens.
    await deliverMail(ctx.server);
    expect((await outbox().findOne({ _id: id }))?.attempts).toBe(1);

    clock.advance(retryDelayMs(1) / 1000);
    await deliverMail(ctx.server);
    message = await outbox().findOne({ _id: id });
    expect(message).toMatchObject({ attempts: 2 });
    expect(message!.nextAttemptAt.getTime()).toBe(clock.nowMs() + retryDelayMs(2));

    await ctx.mailbox.start();
    clock.advance(retryDelayMs(2) / 1000);
    await deliverMail(ctx.server);
    expect(await outbox().findOne({ _id: id })).toBeNull();
    expect(await mailLog().findOne({ _id: id })).toMatchObject({ outcome: "sent", attempts: 3 });

    const mails = ctx.mailbox.to(account.email);
    const resets = mails.filter((m) => m.subject.startsWith("Reset"));
    expect(resets).toHaveLength(1);
    const reset = await ctx.server.execute(ResetPasswordDocument, {
      token: tokenOf(resets[0]!),
      newPassword: "back-online-passphrase",
    });
    expect(expectData(reset).resetPassword).toBe(true);
  });

  it("an SMTP 5xx answer is final: the message is logged as failed, with an error line", async () => {
    const { id } = await accountWithQueuedReset();
    ctx.mailbox.refuseWith = 550;
    try {
      await deliverMail(ctx.server);
    } finally {
      ctx.mailbox.refuseWith = undefined;
    }
    expect(await outbox().findOne({ _id: id })).toBeNull();
    const logged = await mailLog().findOne({ _id: id });
    expect(logged).toMatchObject({ outcome: "failed", attempts: 1, kind: "password-reset" });
    expect(logged!.error).toMatch(/550/);
    const errors = logLines(ctx.server, /^mail delivery failed for good/).filter(
      (line) => line.mailId === id,
    );
    expect(errors).toHaveLength(1);
    expect(errors[0]!.level).toBe(50);
  });

  it(`a message refused with 451 every time is tried ${MAX_ATTEMPTS} times, then logged as failed`, async () => {
    const { id } = await accountWithQueuedReset();
    ctx.mailbox.refuseWith = 451;
    try {
      for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
        await deliverMail(ctx.server);
        if (attempt < MAX_ATTEMPTS) {
          expect((await outbox().findOne({ _id: id }))?.attempts).toBe(attempt);
          clock.advance(retryDelayMs(attempt) / 1000);
        }
      }
    } finally {
      ctx.mailbox.refuseWith = undefined;
    }
    expect(await outbox().findOne({ _id: id })).toBeNull();
    expect(await mailLog().findOne({ _id: id })).toMatchObject({
      outcome: "failed",
      attempts: MAX_ATTEMPTS,
    });
    expect(
      logLines(ctx.server, /^mail delivery failed for good/).some((line) => line.mailId === id),
    ).toBe(true);
  });

  it("an attempt claimed by an instance that stopped mid-send is taken over after a while; a message already sent is not sent again", async () => {
    const { account, id } = await accountWithQueuedReset();
    const attempts = db().collection<{ _id: string; at: Date; holder: string }>("mail_attempts");
    // Another instance claimed attempt 1 and died before it finished.
    await attempts.insertOne({ _id: `${id}:1`, at: new Date(clock.nowMs()), holder: "gone" });
    await deliverMail(ctx.server);
    expect(await outbox().findOne({ _id: id })).toMatchObject({ attempts: 0 });

    clock.advance(STALE_CLAIM_MS / 1000 + 1);
    await deliverMail(ctx.server);
    await deliverMail(ctx.server);
    expect(await outbox().findOne({ _id: id })).toBeNull();
    expect(await mailLog().findOne({ _id: id })).toMatchObject({ outcome: "sent", attempts: 2 });
    await ctx.mailbox.waitFor(account.email, 2);

    // Sent and logged, but the instance stopped before taking it out of the queue.
    const { account: other, id: sentId } = await accountWithQueuedReset();
    const queued = await outbox().findOne({ _id: sentId });
    await attempts.insertOne({ _id: `${sentId}:1`, at: new Date(clock.nowMs()), holder: "gone" });
    await mailLog().insertOne({
      _id: sentId,
      kind: "password-reset",
      outcome: "sent",
      attempts: 1,
      createdAt: queued!.nextAttemptAt,
      at: new Date(clock.nowMs()),
    } as never);
    clock.advance(STALE_CLAIM_MS / 1000 + 1);
    await deliverMail(ctx.server);
    expect(await outbox().findOne({ _id: sentId })).toBeNull();
    expect(ctx.mailbox.to(other.email)).toHaveLength(1);
  });

  describe("with a second instance on the same database", () => {
    let second: TestServer;
    beforeAll(async () => {
      second = await startTestServer(
        {
          ...(ctx.server.config.email.smtpUrl ? {} : {}),
          EMAIL_ENABLED: "true",
          SMTP_URL: ctx.mailbox.url,
          TRUST_PROXY: "loopback",
        },
        { clock },
      );
      await second.app.background.stop();
    });
    afterAll(async () => {
      await second?.close();
    });

    it("sends each queued message exactly once when both senders run at the same moment", async () => {
      const queued: Awaited<ReturnType<typeof accountWithQueuedReset>>[] = [];
      for (let i = 0; i < 8; i++) queued.push(await accountWithQueuedReset());
      // Slow answers widen the window in which both instances work on the same messages.
      ctx.mailbox.delayMs = 100;
      try {
        // As when one instance's lease ran out mid-run: the senders run without it.
        await Promise.all([
          deliverMail(ctx.server),
          deliverMail(second),
          deliverMail(second),
          deliverMail(ctx.server),
        ]);
      } finally {
        ctx.mailbox.delayMs = 0;
      }
      for (const { account, id } of queued) {
        const resets = ctx.mailbox.to(account.email).filter((m) => m.subject.startsWith("Reset"));
        expect(resets).toHaveLength(1);
        expect(await mailLog().findOne({ _id: id })).toMatchObject({
          outcome: "sent",
          attempts: 1,
        });
      }
      // One claim per message, whichever instance made it.
      const claims = await db().collection<{ _id: string }>("mail_attempts").find().toArray();
      for (const { id } of queued) {
        expect(claims.filter((claim) => claim._id.startsWith(`${id}:`))).toHaveLength(1);
      }
    });

    it("only one instance at a time holds the sender's lease", async () => {
      const first = await ctx.server.app.background.runOnce("mail-sender").catch((e: unknown) => e);
      const other = await second.app.background.runOnce("mail-sender").catch((e: unknown) => e);
      expect([first, other].filter((outcome) => outcome === "not-leader")).toHaveLength(1);
    });
  });

  it("the retention sweep deletes sent and failed mail, attempt claims and email tokens past retention", async () => {
    const { account } = await accountWithQueuedReset();
    await deliverMail(ctx.server);
    await signin(ctx.server, account.username, account.password);
    const count = async () => ({
      log: await mailLog().countDocuments(),
      attempts: await db().collection("mail_attempts").countDocuments(),
      tokens: await db().collection("email_tokens").countDocuments(),
    });
    const before = await count();
    expect(before.log).toBeGreaterThan(0);
    expect(before.attempts).toBeGreaterThan(0);
    expect(before.tokens).toBeGreaterThan(0);

    clock.advance((RETENTION_DAYS + 2) * DAY);
    const sweep = ctx.server.app.services.backgroundJobs.find((j) => j.name === "retention-sweep")!;
    for (let runs = 0; runs < 20; runs++) {
      if (!(await sweep.run(new AbortController().signal)).more) break;
    }
    expect(await count()).toEqual({ log: 0, attempts: 0, tokens: 0 });
  });
});

describe("the test mailbox itself", () => {
  it("comes back on the same port after a stop", async () => {
    const mailbox = await new TestMailbox().start();
    const url = mailbox.url;
    await mailbox.stop();
    await mailbox.start();
    expect(mailbox.url).toBe(url);
    await mailbox.stop();
  });
});
