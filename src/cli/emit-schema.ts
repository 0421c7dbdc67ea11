import "reflect-metadata";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { printSchemaFile } from "../schema-file";
import { createSchema } from "../server";

async function main(): Promise<void> {
  const target = path.resolve(__dirname, "..", "..", "schema.graphql");
  writeFileSync(target, printSchemaFile(await createSchema()));
  console.log(`wrote ${target}`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
