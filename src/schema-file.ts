import { lexicographicSortSchema, printSchema, type GraphQLSchema } from "graphql";

/**
 * schema.graphql as committed: sorted so a diff shows real changes only. Typed clients are
 * generated from this file, so it must always match what the server runs (a test checks).
 */
export function printSchemaFile(schema: GraphQLSchema): string {
  const header =
    "# Generated from the type-graphql classes in src/ by `npm run schema`. Do not edit by hand.\n\n";
  return `${header}${printSchema(lexicographicSortSchema(schema))}\n`;
}
