/** The identifier fields of a workload action (workload.ts's Action). */
export interface IdentifiedAction {
  readonly userId?: string;
  readonly anonymousId?: string;
  readonly deviceId?: string;
  readonly email?: string;
  readonly loyaltyId?: string;
  readonly traits?: Readonly<Record<string, string | number>>;
}

/** The identifiers an action carries, as the identity rules read them (`type:value`). */
export function identifiersOf(action: IdentifiedAction): string[] {
  const email = action.email ?? action.traits?.email;
  return [
    action.userId && `user_id:${action.userId}`,
    action.anonymousId && `anonymous_id:${action.anonymousId}`,
    action.deviceId && `device_id:${action.deviceId}`,
    email && `email:${email}`,
    action.loyaltyId && `customer_id:${action.loyaltyId}`,
  ].filter((id): id is string => typeof id === 'string');
}

/** Each event links all its identifiers; no limit is ever reached, so the profiles are the connected components. */
export function componentsOf(actions: readonly IdentifiedAction[]): string[][] {
  const links = new UnionFind();
  for (const action of actions) {
    const [first, ...rest] = identifiersOf(action);
    if (first === undefined) continue;
    links.link(first, first);
    for (const other of rest) links.link(first, other);
  }
  return links.components();
}

/** Union-find over `type:value` identifiers: the components are the profiles any arrival order ends in. */
class UnionFind {
  private readonly parent = new Map<string, string>();

  link(a: string, b: string): void {
    const rootA = this.find(a);
    const rootB = this.find(b);
    if (rootA !== rootB) this.parent.set(rootA, rootB);
  }

  components(): string[][] {
    const groups = new Map<string, string[]>();
    for (const id of this.parent.keys()) {
      const root = this.find(id);
      const group = groups.get(root) ?? [];
      group.push(id);
      groups.set(root, group);
    }
    return [...groups.values()].map((group) => group.sort()).sort((a, b) => (a[0]! < b[0]! ? -1 : 1));
  }

  private find(id: string): string {
    if (!this.parent.has(id)) this.parent.set(id, id);
    let root = id;
    while (this.parent.get(root) !== root) root = this.parent.get(root)!;
    this.parent.set(id, root);
    return root;
  }
}
