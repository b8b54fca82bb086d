import {
  forceCollide,
  forceLink,
  forceManyBody,
  forceSimulation,
  forceX,
  forceY,
  type SimulationNodeDatum,
} from 'd3-force';
import { useMemo, useState } from 'react';
import { defineMessages, useFormat, useMessages } from '../app/i18n';

export type GraphNode =
  | { id: string; kind: 'profile'; profileId: string; survivor: boolean }
  | { id: string; kind: 'identifier'; type: string; value: string; state: 'linked' | 'refused' | 'moved' };

export interface GraphEdge {
  id: string;
  source: string;
  target: string;
  rule: string;
  reason: string;
  messageId: string;
  at: string;
}

const messages = defineMessages({
  en: {
    graph: 'Identity graph: {identifiers} identifiers, {profiles} profiles',
    legendLinked: 'identifier of this profile',
    legendRefused: 'refused link',
    legendMoved: 'linked here once, now elsewhere',
    legendProfile: 'profile (merged ones smaller)',
    select: 'Select a node (Tab, then Enter) to see the links that made it.',
    linksOf: 'Links of {node}',
    rule: 'Rule',
    reason: 'Reason',
    message: 'Message',
    at: 'Event time',
    shown: 'Showing the first {shown} of {total} identifiers; the table lists every link.',
    state_linked: 'linked',
    state_refused: 'refused',
    state_moved: 'moved',
    profileNode: 'profile {id}',
    mergedProfileNode: 'merged profile {id}',
    identifierNode: '{type} {value}, {state}, {links} links',
    identifierNodeOne: '{type} {value}, {state}, 1 link',
  },
  ja: {
    graph: 'ID グラフ: 識別子 {identifiers} 件、プロフィール {profiles} 件',
    legendLinked: 'このプロフィールの識別子',
    legendRefused: '拒否されたリンク',
    legendMoved: '以前ここにリンクされ、現在は別の場所',
    legendProfile: 'プロフィール（統合されたものは小さく表示）',
    select: 'ノードを選択すると（Tab の後 Enter）、そのリンクの根拠を表示します。',
    linksOf: '{node} のリンク',
    rule: 'ルール',
    reason: '理由',
    message: 'メッセージ',
    at: 'イベント時刻',
    shown: '識別子 {total} 件のうち最初の {shown} 件を表示しています。表にはすべてのリンクがあります。',
    state_linked: 'リンク済み',
    state_refused: '拒否',
    state_moved: '移動済み',
    profileNode: 'プロフィール {id}',
    mergedProfileNode: '統合されたプロフィール {id}',
    identifierNode: '{type} {value}、{state}、リンク {links} 件',
    identifierNodeOne: '{type} {value}、{state}、リンク 1 件',
  },
});

const maxDrawn = 150;
const width = 720;
const height = 420;

interface Placed extends SimulationNodeDatum {
  node: GraphNode;
}

/**
 * The identity graph as a picture: identifiers around the profiles they were linked to, an edge per
 * recorded link (dashed red when refused), merged profiles joined to the survivor. The layout is
 * a force simulation run to rest before drawing (d3-force), so the picture does not move. Every
 * node is focusable and names itself to screen readers; the table below holds every link.
 */
export function IdentityGraph({ nodes, edges }: { readonly nodes: GraphNode[]; readonly edges: GraphEdge[] }) {
  const t = useMessages(messages);
  const f = useFormat();
  const [selected, setSelected] = useState<string | null>(null);
  const identifiers = nodes.filter((n) => n.kind === 'identifier');
  const profiles = nodes.filter((n) => n.kind === 'profile');
  const drawn = useMemo(() => {
    const kept = new Set([...profiles, ...identifiers.slice(0, maxDrawn)].map((n) => n.id));
    return {
      nodes: nodes.filter((n) => kept.has(n.id)),
      edges: edges.filter((e) => kept.has(e.source) && kept.has(e.target)),
    };
  }, [nodes, edges, profiles, identifiers]);
  const layout = useMemo(() => {
    const placed: Placed[] = drawn.nodes.map((node, i) => ({
      node,
      // Deterministic start: the same profile is drawn the same way every time.
      x: width / 2 + Math.cos(i * 2.399) * (20 + i * 3),
      y: height / 2 + Math.sin(i * 2.399) * (20 + i * 3),
    }));
    const byId = new Map(placed.map((p) => [p.node.id, p]));
    const links = drawn.edges.map((e) => ({ source: byId.get(e.source)!, target: byId.get(e.target)!, edge: e }));
    const simulation = forceSimulation(placed)
      .force(
        'link',
        forceLink(links).distance((l) => ((l.edge as GraphEdge).rule === 'merge' ? 160 : 100)),
      )
      .force('charge', forceManyBody().strength(-320))
      .force('collide', forceCollide(34))
      .force('x', forceX(width / 2).strength(0.05))
      .force('y', forceY(height / 2).strength(0.08))
      .stop();
    for (let i = 0; i < 300; i++) simulation.tick();
    // The picture is framed on what was drawn, with room for the labels.
    const xs = placed.map((p) => p.x ?? 0);
    const ys = placed.map((p) => p.y ?? 0);
    const [minX, maxX, minY, maxY] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
    const w = Math.max(maxX - minX + 200, 360);
    const h = Math.max(maxY - minY + 90, 220);
    const viewBox = `${(minX + maxX) / 2 - w / 2} ${(minY + maxY) / 2 - h / 2} ${w} ${h}`;
    return { placed, byId, viewBox };
  }, [drawn]);

  const linksOf = (id: string) => edges.filter((e) => e.source === id || e.target === id);
  const label = (node: GraphNode) =>
    node.kind === 'profile'
      ? t(node.survivor ? 'profileNode' : 'mergedProfileNode', { id: node.profileId })
      : t(linksOf(node.id).length === 1 ? 'identifierNodeOne' : 'identifierNode', {
          type: node.type,
          value: node.value,
          state: t(`state_${node.state}`),
          links: linksOf(node.id).length,
        });
  const selectedNode = selected ? nodes.find((n) => n.id === selected) : undefined;

  return (
    <div className="identity-graph">
      {/* biome-ignore lint/a11y/useSemanticElements: a group of focusable SVG nodes; fieldset cannot hold SVG */}
      <svg
        viewBox={layout.viewBox}
        role="group"
        aria-label={t('graph', { identifiers: identifiers.length, profiles: profiles.length })}
        data-testid="identity-graph"
      >
        {drawn.edges.map((e) => {
          const a = layout.byId.get(e.source);
          const b = layout.byId.get(e.target);
          if (!a || !b) return null;
          return (
            <line
              key={e.id}
              x1={a.x}
              y1={a.y}
              x2={b.x}
              y2={b.y}
              className={`edge edge-${e.rule}${selected && (e.source === selected || e.target === selected) ? ' edge-on' : ''}`}
            >
              <title>{`${e.rule}: ${e.reason} (${e.messageId})`}</title>
            </line>
          );
        })}
        {layout.placed.map(({ node, x, y }) => (
          // biome-ignore lint/a11y/useSemanticElements: an SVG node cannot be a <button>; it has the role and keys of one
          <g
            key={node.id}
            transform={`translate(${x},${y})`}
            className={`node node-${node.kind}${node.kind === 'identifier' ? ` node-${node.state}` : node.survivor ? ' node-survivor' : ''}${selected === node.id ? ' node-on' : ''}`}
            role="button"
            tabIndex={0}
            aria-pressed={selected === node.id}
            aria-label={label(node)}
            data-kind={node.kind}
            data-state={node.kind === 'identifier' ? node.state : undefined}
            onClick={() => setSelected(selected === node.id ? null : node.id)}
            onKeyDown={(event) => {
              if (event.key === 'Enter' || event.key === ' ') {
                event.preventDefault();
                setSelected(selected === node.id ? null : node.id);
              }
            }}
          >
            {node.kind === 'profile' ? (
              <rect
                x={node.survivor ? -14 : -10}
                y={node.survivor ? -14 : -10}
                width={node.survivor ? 28 : 20}
                height={node.survivor ? 28 : 20}
                rx={5}
              />
            ) : (
              <circle r={9} />
            )}
            <text y={node.kind === 'profile' ? 28 : 22} textAnchor="middle">
              {node.kind === 'profile' ? shorten(node.profileId, 14) : `${node.type}: ${shorten(node.value, 18)}`}
            </text>
          </g>
        ))}
      </svg>
      <ul className="legend">
        <li>
          <span className="swatch swatch-linked" /> {t('legendLinked')}
        </li>
        <li>
          <span className="swatch swatch-refused" /> {t('legendRefused')}
        </li>
        <li>
          <span className="swatch swatch-moved" /> {t('legendMoved')}
        </li>
        <li>
          <span className="swatch swatch-profile" /> {t('legendProfile')}
        </li>
      </ul>
      {identifiers.length > maxDrawn ? (
        <p className="muted">{t('shown', { shown: maxDrawn, total: identifiers.length })}</p>
      ) : null}
      <div aria-live="polite">
        {selectedNode ? (
          <div className="graph-details">
            <h3>{t('linksOf', { node: label(selectedNode) })}</h3>
            <LinkTable edges={linksOf(selectedNode.id)} format={f.dateTime} />
          </div>
        ) : (
          <p className="muted">{t('select')}</p>
        )}
      </div>
    </div>
  );
}

export function LinkTable({
  edges,
  format,
}: {
  readonly edges: GraphEdge[];
  readonly format: (iso: string) => string;
}) {
  const t = useMessages(messages);
  return (
    <table>
      <thead>
        <tr>
          <th scope="col">{t('rule')}</th>
          <th scope="col">{t('reason')}</th>
          <th scope="col">{t('message')}</th>
          <th scope="col">{t('at')}</th>
        </tr>
      </thead>
      <tbody>
        {edges.map((e) => (
          <tr key={e.id} className={e.rule === 'refused' ? 'refused' : undefined}>
            <td>{e.rule}</td>
            <td>{e.reason || '—'}</td>
            <td>
              <code>{e.messageId || '—'}</code>
            </td>
            <td>{e.at ? format(e.at) : '—'}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function shorten(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}
