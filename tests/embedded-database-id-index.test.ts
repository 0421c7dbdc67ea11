import { promises as fs } from "node:fs";
import os from "node:os";
import path from "node:path";
import mongoose from "mongoose";
import { startEmbeddedDatabase, type RunningDatabase } from "../src/db/embedded-database";

const { MongoClient, ObjectId } = mongoose.mongo;
type ObjectId = mongoose.mongo.ObjectId;
type Document = mongoose.mongo.Document;

/*
 * The embedded database is FerretDB built by src/db/ferretdb.ts with one source patch, so that
 * SQLite serves lookups by `_id` from the `_id` index instead of scanning the table. Every
 * request path (refresh tokens, sessions, accounts, names) is keyed by `_id`, so without the
 * patch each of them slows down with the size of its collection. The plan SQLite chooses is
 * what FerretDB's explain returns; a stock FerretDB 1.24 answers "SCAN" here.
 */

jest.setTimeout(120_000);

describe("the embedded SQLite database", () => {
  let folder: string;
  let database: RunningDatabase;
  let client: mongoose.mongo.MongoClient;

  beforeAll(async () => {
    folder = await fs.mkdtemp(path.join(os.tmpdir(), "graphql-jwt-auth-id-index-"));
    database = await startEmbeddedDatabase({
      dataDir: folder,
      log: () => {},
      backend: { kind: "sqlite" },
    });
    client = await MongoClient.connect(database.uri);
  });

  afterAll(async () => {
    await client?.close();
    await database?.stop();
    await fs.rm(folder, { recursive: true, force: true });
  });

  async function planFor(collection: string, filter: Document): Promise<string> {
    const explained = await client
      .db("id_index")
      .command({ explain: { find: collection, filter }, verbosity: "queryPlanner" });
    return JSON.stringify(explained.queryPlanner);
  }

  it("finds documents by a string or ObjectId _id through the _id index, not a scan", async () => {
    const db = client.db("id_index");
    const byHash = db.collection<{ _id: string; n: number }>("by_hash");
    const byObjectId = db.collection<{ _id: ObjectId; n: number }>("by_object_id");
    const ids = Array.from({ length: 50 }, () => new ObjectId());
    await byHash.insertMany(ids.map((id, n) => ({ _id: `h${id.toHexString()}`, n })));
    await byObjectId.insertMany(ids.map((id, n) => ({ _id: id, n })));

    expect(await planFor("by_hash", { _id: `h${ids[7]!.toHexString()}` })).toMatch(
      /SEARCH \S+ USING INDEX/,
    );
    expect(await planFor("by_object_id", { _id: ids[7] })).toMatch(/SEARCH \S+ USING INDEX/);
    // A filter on another field still scans: that is why the request paths never use one.
    expect(await planFor("by_hash", { n: 7 })).toMatch(/SCAN/);
  });

  it("still finds, replaces and deletes the right documents by _id", async () => {
    const records = client.db("id_index").collection<{ _id: string; state: string }>("records");
    await records.insertMany(
      Array.from({ length: 20 }, (_, n) => ({ _id: `user:${n}`, state: `s${n}` })),
    );

    expect(await records.findOne({ _id: "user:3" })).toEqual({ _id: "user:3", state: "s3" });
    expect(await records.findOne({ _id: "user:99" })).toBeNull();

    const replaced = await records.replaceOne({ _id: "user:4" }, { state: "changed" });
    expect(replaced.matchedCount).toBe(1);
    const updated = await records.updateOne({ _id: "user:5" }, { $set: { state: "set" } });
    expect(updated.modifiedCount).toBe(1);
    const deleted = await records.deleteOne({ _id: "user:6" });
    expect(deleted.deletedCount).toBe(1);
    const missing = await records.deleteOne({ _id: "user:6" });
    expect(missing.deletedCount).toBe(0);

    const all = await records.find().sort({ _id: 1 }).toArray();
    expect(all).toHaveLength(19);
    expect(all.find((r) => r._id === "user:4")?.state).toBe("changed");
    expect(all.find((r) => r._id === "user:5")?.state).toBe("set");
    expect(all.find((r) => r._id === "user:7")?.state).toBe("s7");
    // The unique _id index still refuses a second document with one _id.
    await expect(records.insertOne({ _id: "user:3", state: "again" })).rejects.toMatchObject({
      code: 11000,
    });
  });
});
