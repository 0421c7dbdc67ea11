import {
  GraphQLError,
  Kind,
  type ASTVisitor,
  type FragmentDefinitionNode,
  type OperationDefinitionNode,
  type SelectionNode,
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

/** What one validation run cost the rule: tests and the bench check it grows with the document. */
export interface OperationLimitsWork {
  /** Selections (fields, inline fragments, fragment spreads) the rule looked at. */
  readonly selectionsVisited: number;
}

/** Fields that run bcrypt: each one is worth many cheap fields. */
const EXPENSIVE_FIELDS: Record<string, number> = { signin: 50, signup: 50 };

type LimitName = "depth" | "aliases" | "cost";

/** What a fragment adds wherever it is spread; depth is relative to the spread. */
interface FragmentMeasure {
  readonly depth: number;
  readonly aliases: number;
  readonly cost: number;
}

/** The first limit an operation was found to pass, and the lower bound counted by then. */
interface LimitPassed {
  readonly limit: LimitName;
  readonly atLeast: number;
}

/**
 * Measures the operations of one document. A fragment spread twice per level doubles per
 * level, so expanding fragments where they are used takes time exponential in the document's
 * size (25 levels of a ~1 kB document took seconds). Instead each fragment is walked once, at
 * its first use, and what it adds is remembered and added again at its other uses; and the walk
 * stops as soon as a limit is passed. Every selection of the document is then visited at most
 * once, and the counts never exceed about twice their limit: 2^200 is never computed.
 */
class DocumentMeasurer {
  selectionsVisited = 0;
  private readonly measured = new Map<string, FragmentMeasure>();
  private readonly walking = new Set<string>();
  // Of the operation being measured: lower bounds while the walk runs, exact when it ends.
  private aliases = 0;
  private cost = 0;
  private passed: LimitPassed | undefined;

  constructor(
    private readonly limits: OperationLimits,
    private readonly fragment: (name: string) => FragmentDefinitionNode | undefined,
  ) {}

  /** The first limit the operation passes, if any. */
  measure(operation: OperationDefinitionNode): LimitPassed | undefined {
    this.aliases = 0;
    this.cost = 0;
    this.passed = undefined;
    this.selectionSet(operation.selectionSet, 0);
    return this.passed;
  }

  /** Walks a selection set at `base` levels deep; returns its depth relative to `base`. */
  private selectionSet(selectionSet: SelectionSetNode, base: number): number {
    let depth = 0;
    for (const selection of selectionSet.selections) {
      this.selectionsVisited += 1;
      depth = Math.max(depth, this.selection(selection, base));
      if (this.passed) break;
    }
    return depth;
  }

  private selection(selection: SelectionNode, base: number): number {
    switch (selection.kind) {
      case Kind.FIELD: {
        const weight = EXPENSIVE_FIELDS[selection.name.value] ?? 1;
        if (!this.add({ depth: 1, aliases: selection.alias ? 1 : 0, cost: weight }, base)) return 1;
        return (
          1 + (selection.selectionSet ? this.selectionSet(selection.selectionSet, base + 1) : 0)
        );
      }
      case Kind.INLINE_FRAGMENT:
        return this.selectionSet(selection.selectionSet, base);
      case Kind.FRAGMENT_SPREAD:
        return this.spread(selection.name.value, base);
    }
  }

  private spread(name: string, base: number): number {
    const known = this.measured.get(name);
    if (known) {
      this.add(known, base);
      return known.depth;
    }
    const fragment = this.fragment(name);
    // Unknown or cyclic fragments are reported by graphql-js's own rules.
    if (!fragment || this.walking.has(name)) return 0;
    this.walking.add(name);
    const aliasesBefore = this.aliases;
    const costBefore = this.cost;
    const depth = this.selectionSet(fragment.selectionSet, base);
    this.walking.delete(name);
    // A walk cut short leaves the fragment half counted; the document is refused anyway.
    if (!this.passed) {
      this.measured.set(name, {
        depth,
        aliases: this.aliases - aliasesBefore,
        cost: this.cost - costBefore,
      });
    }
    return depth;
  }

  /**
   * Adds what a field or a fragment contributes at `base` levels deep; false, with the limit
   * noted, when that passes one. Each count stays under its limit before an addition, and no
   * addition is larger than a limit (a remembered fragment was under them all) or a field's
   * weight, so counts stay small numbers.
   */
  private add(measure: FragmentMeasure, base: number): boolean {
    this.aliases += measure.aliases;
    this.cost += measure.cost;
    this.passed = this.firstPassed(base + measure.depth);
    return this.passed === undefined;
  }

  private firstPassed(depth: number): LimitPassed | undefined {
    const { maxDepth, maxAliases, maxCost } = this.limits;
    if (depth > maxDepth) return { limit: "depth", atLeast: depth };
    if (this.aliases > maxAliases) return { limit: "aliases", atLeast: this.aliases };
    if (this.cost > maxCost) return { limit: "cost", atLeast: this.cost };
    return undefined;
  }
}

function limitError(
  passed: LimitPassed,
  operation: OperationDefinitionNode,
  limits: OperationLimits,
): GraphQLError {
  const name = operation.name ? `"${operation.name.value}"` : "the operation";
  const { limit, atLeast } = passed;
  // The walk stops at the first limit passed, so the number is a lower bound, not a total.
  const message = {
    depth:
      `Query depth limit exceeded: ${name} nests fields at least ${atLeast} levels deep; ` +
      `the limit is ${limits.maxDepth}. Select fewer nested fields (a fragment's fields count ` +
      `as deep as where it is spread).`,
    aliases:
      `Alias limit exceeded: ${name} uses at least ${atLeast} aliases; the limit is ` +
      `${limits.maxAliases}. Ask for each field once, or send separate requests ` +
      `(a fragment's aliases count at every spread).`,
    cost:
      `Query cost limit exceeded: ${name} costs at least ${atLeast}; the limit is ` +
      `${limits.maxCost}. Each field costs 1 (signin and signup 50) at every place it is ` +
      `selected, fragments counted at every spread: select less, or split the operation.`,
  }[limit];
  return new GraphQLError(message, { nodes: [operation], extensions: { limit } });
}

/**
 * One validation rule for all three limits, so a hostile document is measured once and
 * refused before anything executes (Apollo answers GRAPHQL_VALIDATION_FAILED). Its work is
 * linear in the document's size; `onMeasured` hears how much it did, once per validation.
 */
export function operationLimitsRule(
  limits: OperationLimits,
  onMeasured?: (work: OperationLimitsWork) => void,
): ValidationRule {
  return (context: ValidationContext): ASTVisitor => {
    const measurer = new DocumentMeasurer(limits, (name) => context.getFragment(name) ?? undefined);
    let refused = false;
    return {
      OperationDefinition(operation: OperationDefinitionNode) {
        // One refusal refuses the whole document. Measuring on would meet fragments left half
        // counted by the walk that stopped, and walk them again: the next operation's error is
        // for after this one is fixed.
        if (refused) return false;
        const passed = measurer.measure(operation);
        if (passed) {
          refused = true;
          context.reportError(limitError(passed, operation, limits));
        }
        // Its selections are measured; graphql-js's walk of them has nothing more for this rule.
        return false;
      },
      Document: {
        leave() {
          onMeasured?.({ selectionsVisited: measurer.selectionsVisited });
        },
      },
    };
  };
}
