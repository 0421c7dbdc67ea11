import {
  GraphQLError,
  Kind,
  type ASTVisitor,
  type FragmentDefinitionNode,
  type OperationDefinitionNode,
  type SelectionSetNode,
  type ValidationContext,
  type ValidationRule,
} from "graphql";

export interface OperationLimits {
  /** Deepest field nesting, counting introspection fields too (__schema/__type recurse). */
  readonly maxDepth: number;
  /** Aliased fields per operation: aliases are how one request asks for the same work N times. */
  readonly maxAliases: number;
  /** Fields per operation with fragments expanded where used; mutations that hash cost more. */
  readonly maxCost: number;
}

/** Fields that run bcrypt: each one is worth many cheap fields. */
const EXPENSIVE_FIELDS: Record<string, number> = { signin: 50, signup: 50 };

interface Measure {
  depth: number;
  aliases: number;
  cost: number;
}

function measure(
  selectionSet: SelectionSetNode,
  fragments: Map<string, FragmentDefinitionNode>,
  depth: number,
  visiting: Set<string>,
): Measure {
  let result: Measure = { depth, aliases: 0, cost: 0 };
  for (const selection of selectionSet.selections) {
    let inner: Measure | undefined;
    if (selection.kind === Kind.FIELD) {
      const own = {
        depth: depth + 1,
        aliases: selection.alias ? 1 : 0,
        cost: EXPENSIVE_FIELDS[selection.name.value] ?? 1,
      };
      const below = selection.selectionSet
        ? measure(selection.selectionSet, fragments, depth + 1, visiting)
        : { depth: depth + 1, aliases: 0, cost: 0 };
      inner = {
        depth: Math.max(own.depth, below.depth),
        aliases: own.aliases + below.aliases,
        cost: own.cost + below.cost,
      };
    } else if (selection.kind === Kind.INLINE_FRAGMENT) {
      inner = measure(selection.selectionSet, fragments, depth, visiting);
    } else {
      const name = selection.name.value;
      const fragment = fragments.get(name);
      // Unknown or cyclic fragments are reported by graphql-js's own rules.
      if (!fragment || visiting.has(name)) continue;
      visiting.add(name);
      inner = measure(fragment.selectionSet, fragments, depth, visiting);
      visiting.delete(name);
    }
    result = {
      depth: Math.max(result.depth, inner.depth),
      aliases: result.aliases + inner.aliases,
      cost: result.cost + inner.cost,
    };
  }
  return result;
}

/**
 * One validation rule for all three limits, so a hostile document is measured once and
 * refused before anything executes (Apollo answers GRAPHQL_VALIDATION_FAILED).
 */
export function operationLimitsRule(limits: OperationLimits): ValidationRule {
  return (context: ValidationContext): ASTVisitor => {
    const fragments = new Map<string, FragmentDefinitionNode>();
    for (const definition of context.getDocument().definitions) {
      if (definition.kind === Kind.FRAGMENT_DEFINITION) {
        fragments.set(definition.name.value, definition);
      }
    }
    return {
      OperationDefinition(operation: OperationDefinitionNode) {
        const name = operation.name ? `"${operation.name.value}"` : "the operation";
        const found = measure(operation.selectionSet, fragments, 0, new Set());
        if (found.depth > limits.maxDepth) {
          context.reportError(
            new GraphQLError(
              `Query depth limit exceeded: ${name} is ${found.depth} levels deep; the limit is ${limits.maxDepth}.`,
              { nodes: [operation], extensions: { limit: "depth" } },
            ),
          );
        }
        if (found.aliases > limits.maxAliases) {
          context.reportError(
            new GraphQLError(
              `Alias limit exceeded: ${name} uses ${found.aliases} aliases; the limit is ${limits.maxAliases}.`,
              { nodes: [operation], extensions: { limit: "aliases" } },
            ),
          );
        }
        if (found.cost > limits.maxCost) {
          context.reportError(
            new GraphQLError(
              `Query cost limit exceeded: ${name} costs ${found.cost}; the limit is ${limits.maxCost}.`,
              { nodes: [operation], extensions: { limit: "cost" } },
            ),
          );
        }
      },
    };
  };
}
