import { performance } from "node:perf_hooks";
import mongoose from "mongoose";
import { RequestPasswordResetDocument, SignupDocument } from "./generated/graphql";
import { expectData, newAccount } from "./setup/kit";
import { deliverMail, fromNewClient, useMailServer } from "./setup/mailbox";

/**
 * requestPasswordReset must not tell anyone whether an account has an address: not by its
 * answer, not by its time, not by the work it does. The request path never looks the address
 * up (the background sender does); these tests check that from the outside (same answer, about
 * the same time) and from the inside: the same database operations, one for one, whether the
 * address belongs to an account or not. The server runs in this process, so mongoose's debug
 * hook sees every operation it sends.
 */
describe("requestPasswordReset for a known and an unknown address", () => {
  const ctx = useMailServer();

  beforeAll(async () => {
    // Only the request's own work is counted: no background job may run meanwhile.
    await ctx.server.app.background.stop();
  });

  async function knownAddresses(count: number): Promise<string[]> {
    const emails: string[] = [];
    for (let i = 0; i < count; i++) {
      const account = newAccount("known");
      expectData(await ctx.server.execute(SignupDocument, { input: account }));
      emails.push(account.email);
    }
    await deliverMail(ctx.server);
    return emails;
  }

  const unknownAddress = () => `${newAccount("unknown").username}@example.com`;

  async function request(email: string) {
    const response = await ctx.server.execute(
      RequestPasswordResetDocument,
      { email },
      fromNewClient(),
    );
    expect(expectData(response).requestPasswordReset).toBe(true);
    return response;
  }

  /** "collection.method" of every database operation `work` sends, sorted. */
  async function operationsOf(work: () => Promise<unknown>): Promise<string[]> {
    const operations: string[] = [];
    mongoose.set("debug", (collection: string, method: string) => {
      operations.push(`${collection}.${method}`);
    });
    try {
      await work();
    } finally {
      mongoose.set("debug", false);
    }
    return operations.sort();
  }

  it("sends the same database operations and the same answer for both", async () => {
    const known = await knownAddresses(3);
    for (const email of known) {
      let knownAnswer = "";
      let unknownAnswer = "";
      const forKnown = await operationsOf(async () => (knownAnswer = (await request(email)).text));
      const forUnknown = await operationsOf(
        async () => (unknownAnswer = (await request(unknownAddress())).text),
      );
      expect(forUnknown).toEqual(forKnown);
      expect(unknownAnswer).toBe(knownAnswer);
      // Two rate-limit records (client and address: read the head, insert a version, write the
      // head) and one message queued. No account, name or token is looked at.
      expect(forKnown).toEqual(
        [
          ...Array.from({ length: 2 }, () => [
            "records.findOne",
            "record_versions.insertOne",
            "records.replaceOne",
          ]).flat(),
          "mail_outbox.insertOne",
        ].sort(),
      );
    }
  });

  it("takes about as long for both (a generous sanity check; timings belong to the bench)", async () => {
    const known = await knownAddresses(10);
    const unknown = known.map(() => unknownAddress());
    const timeOf = async (email: string) => {
      const started = performance.now();
      await request(email);
      return performance.now() - started;
    };
    let knownMs = 0;
    let unknownMs = 0;
    // Interleaved, so a slow moment of the machine weighs on both alike.
    for (let i = 0; i < known.length; i++) {
      knownMs += await timeOf(known[i]!);
      unknownMs += await timeOf(unknown[i]!);
    }
    const ratio = knownMs / unknownMs;
    expect(ratio).toBeGreaterThan(0.33);
    expect(ratio).toBeLessThan(3);
  });
});
