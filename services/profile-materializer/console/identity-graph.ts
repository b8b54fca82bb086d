/**
 * A profile's identity graph as the console draws it, from the provenance ClickHouse keeps
 * (identity_links_store, profile_aliases) and the profile's current identifiers.
 *
 * Nodes are the profile, the profiles merged into it, and identifiers. An edge is a recorded
 * link: the identifier joined (or was refused from) the profile it names, by a message and a rule;
 * a merge is an edge from the absorbed profile to the survivor. This is the graph the stitcher
 * built, not an inferred one: each edge is a row, so its rule, reason and message are facts.
 *
 * Identifier states: `linked` (the profile holds it now), `refused` (a link was refused for a
 * limit or priority and it belongs to no profile here), `moved` (linked here once, held elsewhere
 * or erased since).
 */
export interface LinkRow {
  readonly type: string;
  readonly value: string;
  readonly profileId: string;
  readonly rule: string;
  readonly reason: string;
  readonly messageId: string;
  readonly linkedAt: string;
}

export interface MergeRow {
  readonly absorbedProfileId: string;
  readonly mergedAt: string;
  readonly messageId: string;
}

export type IdentifierState = 'linked' | 'refused' | 'moved';

export type GraphNode =
  | { readonly id: string; readonly kind: 'profile'; readonly profileId: string; readonly survivor: boolean }
  | {
      readonly id: string;
      readonly kind: 'identifier';
      readonly type: string;
      readonly value: string;
      readonly state: IdentifierState;
    };

export interface GraphEdge {
  readonly id: string;
  readonly source: string;
  readonly target: string;
  /** linked, merged, refused (identity_links_store.rule), or merge for absorbed profiles. */
  readonly rule: string;
  readonly reason: string;
  readonly messageId: string;
  readonly at: string;
}

export interface IdentityGraph {
  readonly nodes: readonly GraphNode[];
  readonly edges: readonly GraphEdge[];
}

const identifierNode = (type: string, value: string): string => `identifier:${type}:${value}`;
const profileNode = (profileId: string): string => `profile:${profileId}`;

export function buildIdentityGraph(input: {
  readonly profileId: string;
  readonly identifiers: readonly { readonly type: string; readonly value: string }[];
  readonly links: readonly LinkRow[];
  readonly merges: readonly MergeRow[];
}): IdentityGraph {
  const held = new Set(input.identifiers.map((i) => identifierNode(i.type, i.value)));
  const nodes = new Map<string, GraphNode>();
  nodes.set(profileNode(input.profileId), {
    id: profileNode(input.profileId),
    kind: 'profile',
    profileId: input.profileId,
    survivor: true,
  });
  for (const merge of input.merges) {
    const id = profileNode(merge.absorbedProfileId);
    nodes.set(id, { id, kind: 'profile', profileId: merge.absorbedProfileId, survivor: false });
  }
  const addIdentifier = (type: string, value: string, refusedOnly: boolean): string => {
    const id = identifierNode(type, value);
    if (!nodes.has(id))
      nodes.set(id, {
        id,
        kind: 'identifier',
        type,
        value,
        state: held.has(id) ? 'linked' : refusedOnly ? 'refused' : 'moved',
      });
    return id;
  };
  // An identifier refused once but linked by another message is linked (or moved), not refused.
  const everLinked = new Set(
    input.links.filter((l) => l.rule !== 'refused').map((l) => identifierNode(l.type, l.value)),
  );
  for (const identifier of input.identifiers) addIdentifier(identifier.type, identifier.value, false);

  const edges = new Map<string, GraphEdge>();
  for (const link of input.links) {
    const source = addIdentifier(link.type, link.value, !everLinked.has(identifierNode(link.type, link.value)));
    const target = profileNode(link.profileId);
    if (!nodes.has(target))
      nodes.set(target, { id: target, kind: 'profile', profileId: link.profileId, survivor: false });
    const id = `${source}>${target}#${link.rule}#${link.messageId}`;
    if (!edges.has(id))
      edges.set(id, {
        id,
        source,
        target,
        rule: link.rule,
        reason: link.reason,
        messageId: link.messageId,
        at: link.linkedAt,
      });
  }
  for (const merge of input.merges) {
    const source = profileNode(merge.absorbedProfileId);
    const target = profileNode(input.profileId);
    edges.set(`${source}>${target}#merge`, {
      id: `${source}>${target}#merge`,
      source,
      target,
      rule: 'merge',
      reason: `${merge.absorbedProfileId} merged into ${input.profileId}`,
      messageId: merge.messageId,
      at: merge.mergedAt,
    });
  }
  // Identifiers the profile holds without a recorded link (none normally; older data) hang off it.
  const attached = new Set([...edges.values()].map((e) => e.source));
  for (const node of nodes.values()) {
    if (node.kind !== 'identifier' || attached.has(node.id)) continue;
    const target = profileNode(input.profileId);
    edges.set(`${node.id}>${target}#held`, {
      id: `${node.id}>${target}#held`,
      source: node.id,
      target,
      rule: 'linked',
      reason: '',
      messageId: '',
      at: '',
    });
  }
  return { nodes: [...nodes.values()], edges: [...edges.values()] };
}
