import mongoose from "mongoose";
import { PublicContentDocument } from "./generated/graphql";
import { expectData, useTestServer } from "./setup/kit";

describe("health endpoints", () => {
  const ctx = useTestServer();

  it("/healthz answers 200 while the process runs", async () => {
    const response = await fetch(`${ctx.server.origin}/healthz`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: "ok" });
  });

  it("/readyz answers 200 when the database answers", async () => {
    const response = await fetch(`${ctx.server.origin}/readyz`);
    expect(response.status).toBe(200);
  });

  it("/readyz answers 503 when the database is gone, and 200 again once it is back", async () => {
    const uri = mongoose.connection.getClient().options.hosts.map(String).join(",");
    const dbName = mongoose.connection.name;
    await mongoose.disconnect();
    try {
      const down = await fetch(`${ctx.server.origin}/readyz`);
      expect(down.status).toBe(503);
      // Public fields need no database and keep working.
      expect(expectData(await ctx.server.execute(PublicContentDocument)).publicContent).toBe(
        "Public Content.",
      );
    } finally {
      await mongoose.connect(`mongodb://${uri}/${dbName}`);
    }
    const up = await fetch(`${ctx.server.origin}/readyz`);
    expect(up.status).toBe(200);
  });
});
