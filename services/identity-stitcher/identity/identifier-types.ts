import { MAX_IDENTIFIER_TYPES, type IdentityRules } from './identity-rules';

/**
 * The identifier types known to this process, each with a small index used by the graph's
 * typed arrays. Configured types come first, in configuration order; types first seen in
 * `context.externalIds` are added on demand with the `unknownType` rule, up to the bound.
 */
export class IdentifierTypes {
  readonly names: string[] = [];
  readonly priorities: number[] = [];
  readonly limits: number[] = [];
  private readonly byName = new Map<string, number>();

  constructor(private readonly rules: IdentityRules) {
    for (const rule of rules.types) this.add(rule.name, rule.priority, rule.limit);
  }

  get size(): number {
    return this.names.length;
  }

  /** Index of a configured type; unknown types are registered if the rules accept them and there is room. */
  indexOf(name: string): number | undefined {
    const known = this.byName.get(name);
    if (known !== undefined) return known;
    if (!this.rules.unknownType.accept || this.names.length >= MAX_IDENTIFIER_TYPES) return undefined;
    return this.add(name, this.rules.unknownType.priority, this.rules.unknownType.limit);
  }

  isKnown(name: string): boolean {
    return this.byName.has(name);
  }

  private add(name: string, priority: number, limit: number): number {
    const index = this.names.length;
    this.names.push(name);
    this.priorities.push(priority);
    this.limits.push(limit);
    this.byName.set(name, index);
    return index;
  }
}
