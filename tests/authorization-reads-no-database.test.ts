import mongoose from "mongoose";
import { AdminContentDocument, MeDocument, UserContentDocument } from "./generated/graphql";
import { createSignedInUser, expectData, useTestServer } from "./setup/kit";

/**
 * Authorization sits on the path of every request: it must cost a signature check, not a
 * database round trip. The server runs in this process, so mongoose's debug hook sees every
 * query it sends.
 */
describe("authorizing a request", () => {
  const ctx = useTestServer();
  let userToken: string;
  let adminToken: string;
  const queries: string[] = [];

  beforeAll(async () => {
    userToken = (await createSignedInUser(ctx.server)).accessToken;
    adminToken = (await createSignedInUser(ctx.server, ["USER", "ADMIN"])).accessToken;
    mongoose.set("debug", (collection: string, method: string) => {
      queries.push(`${collection}.${method}`);
    });
  });
  afterAll(() => {
    mongoose.set("debug", false);
  });
  beforeEach(() => {
    queries.length = 0;
  });

  it("reads nothing from the database for userContent with a valid token", async () => {
    const response = await ctx.server.execute(UserContentDocument, {}, { token: userToken });
    expect(expectData(response).userContent).toBe("User Content.");
    expect(queries).toEqual([]);
  });

  it("reads nothing from the database for adminContent with a valid ADMIN token", async () => {
    const response = await ctx.server.execute(AdminContentDocument, {}, { token: adminToken });
    expect(expectData(response).adminContent).toBe("Admin Content.");
    expect(queries).toEqual([]);
  });

  it("does see the query of a field that reads the database (so the silence above is real)", async () => {
    const response = await ctx.server.execute(MeDocument, {}, { token: userToken });
    expect(expectData(response).me).not.toBeNull();
    expect(queries).toEqual(["users.findOne"]);
  });
});
