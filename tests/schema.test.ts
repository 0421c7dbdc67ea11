import { readFileSync } from "node:fs";
import path from "node:path";
import { printSchemaFile } from "../src/schema-file";
import { createSchema } from "../src/server";

describe("schema.graphql", () => {
  it("is exactly what the code emits (run `npm run schema` after changing the API)", async () => {
    const committed = readFileSync(path.join(__dirname, "..", "schema.graphql"), "utf8");
    expect(printSchemaFile(await createSchema())).toBe(committed);
  });

  it("keeps the public contract's names", async () => {
    const schema = await createSchema();
    const query = Object.keys(schema.getQueryType()?.getFields() ?? {});
    const mutation = Object.keys(schema.getMutationType()?.getFields() ?? {});
    expect(query).toEqual(
      expect.arrayContaining(["publicContent", "userContent", "modContent", "adminContent", "me"]),
    );
    expect(mutation).toEqual(
      expect.arrayContaining([
        "signup",
        "signin",
        "refreshToken",
        "signout",
        "signoutAll",
        "setUserRoles",
      ]),
    );
  });
});
