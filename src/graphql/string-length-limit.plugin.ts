import type { ApolloServerPlugin } from "@apollo/server";
import { GraphQLError, Kind, visit, type DocumentNode } from "graphql";

function longestVariableString(value: unknown, depth = 0): number {
  if (typeof value === "string") return value.length;
  if (depth > 20 || value === null || typeof value !== "object") return 0;
  const children = Array.isArray(value) ? value : Object.values(value);
  let longest = 0;
  for (const child of children)
    longest = Math.max(longest, longestVariableString(child, depth + 1));
  return longest;
}

/**
 * Apollo keeps parsed documents in its document store and hands the same DocumentNode to every
 * request that sends the same query: each one is walked once, not once per request.
 */
const literalLengths = new WeakMap<DocumentNode, number>();

function longestLiteralString(document: DocumentNode): number {
  const known = literalLengths.get(document);
  if (known !== undefined) return known;
  let longest = 0;
  visit(document, {
    [Kind.STRING](node) {
      longest = Math.max(longest, node.value.length);
    },
  });
  literalLengths.set(document, longest);
  return longest;
}

/**
 * Refuses any string argument (inline or in variables) longer than `maxLength` before any
 * resolver runs: no bcrypt on a megabyte password, no database query with a huge key.
 * Fields have tighter limits of their own (username 32, password 72 bytes, ...).
 */
export function stringLengthLimitPlugin<T extends object>(
  maxLength: number,
): ApolloServerPlugin<T> {
  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ request, document }) {
          const longest = Math.max(
            longestVariableString(request.variables),
            longestLiteralString(document),
          );
          if (longest > maxLength) {
            throw new GraphQLError(
              `A string argument is ${longest} characters long; the limit is ${maxLength}.`,
              { extensions: { code: "BAD_USER_INPUT", http: { status: 400 } } },
            );
          }
        },
      };
    },
  };
}
