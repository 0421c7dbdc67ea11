import { GraphQLError, parse } from "graphql";

/*
 * Documents built to make an operation-limit rule do work out of proportion to their size:
 * fragments spread more than once multiply what they select. Shared by
 * tests/graphql-limits.test.ts and bench/run.ts, so the bench times what the tests refuse.
 */

/** The parser's token cap, as src/server.ts sets it (MAX_TOKENS): longer documents never reach validation. */
export const MAX_TOKENS = 5_000;

/**
 * `{ ...f0 }` where each fragment spreads the next one twice and the last selects `leaf`:
 * about 35 bytes per level, and `leaf` selected 2^levels times once fragments are expanded.
 */
export function doublingFragments(levels: number, leaf = "publicContent"): string {
  const lines = ["{ ...f0 }"];
  for (let i = 0; i < levels; i++)
    lines.push(`fragment f${i} on Query { ...f${i + 1} ...f${i + 1} }`);
  lines.push(`fragment f${levels} on Query { ${leaf} }`);
  return lines.join("\n");
}

/** One fragment spread `spreads` times side by side: every spread costs what the fragment does. */
export function wideSpreads(spreads: number, selection = "publicContent"): string {
  return `{ ${"...w ".repeat(spreads)}}\nfragment w on Query { ${selection} }`;
}

/** A chain of `length` fragments, each one introspection level deeper than the one before. */
export function fragmentChain(length: number): string {
  const lines = ['{ __type(name: "User") { ...d0 } }'];
  for (let i = 0; i < length; i++)
    lines.push(`fragment d${i} on __Type { ofType { ...d${i + 1} } }`);
  lines.push(`fragment d${length} on __Type { name }`);
  return lines.join("\n");
}

/** `{ ... { ... { publicContent } } }`: inline fragments nested `levels` deep (no depth, one field). */
export function nestedInlineFragments(levels: number): string {
  return `{ ${"... { ".repeat(levels)}publicContent${" }".repeat(levels)} }`;
}

/**
 * `count` fragments where each one spreads every fragment before it: the last one selects
 * publicContent 2^(count-2) times, in a document whose size grows with count².
 */
export function fragmentsSpreadingAllPrevious(count: number): string {
  const lines = [`{ ...g${count - 1} }`, "fragment g0 on Query { publicContent }"];
  for (let i = 1; i < count; i++) {
    const spreads = Array.from({ length: i }, (_, j) => `...g${j}`).join(" ");
    lines.push(`fragment g${i} on Query { ${spreads} }`);
  }
  return lines.join("\n");
}

/** True when the server's parser takes `source` (it is within MAX_TOKENS). */
export function isAdmitted(source: string, maxTokens = MAX_TOKENS): boolean {
  try {
    parse(source, { maxTokens });
    return true;
  } catch (error) {
    if (error instanceof GraphQLError) return false;
    throw error;
  }
}

/** The largest size for which `build(size)` still fits within the parser's token cap. */
export function largestAdmitted(build: (size: number) => string, maxTokens = MAX_TOKENS): number {
  if (!isAdmitted(build(1), maxTokens)) throw new Error("even size 1 is over the token cap");
  let admitted = 1;
  let refused = 2;
  while (isAdmitted(build(refused), maxTokens)) {
    admitted = refused;
    refused *= 2;
  }
  while (refused - admitted > 1) {
    const middle = Math.floor((admitted + refused) / 2);
    if (isAdmitted(build(middle), maxTokens)) admitted = middle;
    else refused = middle;
  }
  return admitted;
}
