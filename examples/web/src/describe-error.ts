import { CombinedGraphQLErrors } from "@apollo/client";

/** What a user can act on: the error's code and reason, never a stack or a raw message. */
export function describeError(error: unknown): string {
  if (CombinedGraphQLErrors.is(error)) {
    const extensions = error.errors[0]?.extensions;
    const code = String(extensions?.code ?? "ERROR");
    return extensions?.reason ? `${code} (${String(extensions.reason)})` : code;
  }
  return error instanceof Error ? error.message : String(error);
}

/** The reason of a GraphQL error, to branch on. */
export function reasonOf(error: unknown): string | undefined {
  if (!CombinedGraphQLErrors.is(error)) return undefined;
  const reason = error.errors[0]?.extensions?.reason;
  return typeof reason === "string" ? reason : undefined;
}
