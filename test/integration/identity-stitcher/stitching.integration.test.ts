import type { OutgoingMessage } from '../../../services/common/kafka/client';
import type { DeadLetter, IdentityChange, IdentityGraphRecord, StitchedEvent } from '../../../schemas';
import { generatePopulation, pairwiseScores, type PopulationEvent } from '../../support/identity-population';
import { testKafka } from '../../support/kafka';
import {
  createStitcherTopics,
  decodeAll,
  readAll,
  startStitcher,
  stitcherCodec,
  stitcherSetup,
  type StitcherSetup,
} from '../../support/stitcher';
import { waitFor } from '../../support/wait-for';
import type { AvroCodec } from '../../../services/common/registry';

const kafka = testKafka();

async function produce(setup: StitcherSetup, codec: AvroCodec, items: readonly PopulationEvent[]): Promise<void> {
  const producer = kafka.producer();
  await producer.connect();
  const raw: OutgoingMessage[] = [];
  const json: OutgoingMessage[] = [];
  for (const { event, format } of items) {
    const key = event.userId ?? event.anonymousId ?? event.messageId;
    if (format === 'avro') raw.push({ key, value: codec.encode(setup.raw, event) });
    // JSON producers send objects inline and ISO times.
    else
      json.push({
        key,
        value: JSON.stringify({
          ...event,
          context: JSON.parse(event.context),
          traits: JSON.parse(event.traits),
          timestamp: new Date(event.timestamp).toISOString(),
        }),
      });
  }
  for (let i = 0; i < raw.length; i += 500) await producer.send(setup.raw, raw.slice(i, i + 500));
  for (let i = 0; i < json.length; i += 500) await producer.send(setup.json, json.slice(i, i + 500));
  await producer.disconnect();
}

/** Sum of a counter in the Prometheus text, over the label sets that contain `filter`. */
async function metric(url: string, name: string, filter = ''): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return text
    .split('\n')
    .filter((line) => line.startsWith(name) && line.includes(filter))
    .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);
}

/** Final profile of every identifier: the latest graph record per key (what compaction keeps). */
function finalGraph(records: readonly { key: string; value: IdentityGraphRecord }[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const { key, value } of records) out.set(key, value.profileId);
  return out;
}

// On the stitcher's one thread (the default), and with a link-request thread decoding the Avro events.
describe.each([0, 1])('identity stitcher service, %i link-request threads', (threads) => {
  it('stitches a generated population with known ground truth, exactly once', async () => {
    const setup = stitcherSetup('st-pop');
    await createStitcherTopics(kafka, setup, 3);
    const codec = await stitcherCodec(setup);
    const population = generatePopulation(1000, 11);
    await produce(setup, codec, population);
    // Bad input: not Avro, not JSON, no usable identifier.
    const producer = kafka.producer();
    await producer.connect();
    await producer.send(setup.raw, [{ key: 'bad', value: Buffer.from('not avro at all') }]);
    await producer.send(setup.json, [
      { key: 'bad', value: '{"messageId": "broken' },
      {
        key: 'anon',
        value: JSON.stringify({
          messageId: 'no-ids',
          type: 'track',
          event: 'X',
          anonymousId: 'anonymous',
          timestamp: Date.now(),
        }),
      },
    ]);
    await producer.disconnect();
    const inputs = population.length + 3;

    const stitcher = await startStitcher(setup, { env: { STITCHER_LINK_REQUEST_THREADS: String(threads) } });
    try {
      await waitFor(
        async () => {
          const done = await metric(stitcher.url, 'kumiki_stitcher_events_total');
          if (done < inputs) throw new Error(`stitched ${done} of ${inputs}`);
        },
        { timeoutMs: 120_000, intervalMs: 500 },
      );
      expect(await metric(stitcher.url, 'kumiki_stitcher_events_total', 'outcome="dlq"')).toBe(3);
      const explained = (await (await fetch(`${stitcher.url}/v1/identities/user_id/user-0`)).json()) as {
        profileId: string;
        identifiers: { type: string; linkedBy: string; rule: string }[];
      };
      expect(explained.identifiers.map((i) => i.type)).toContain('user_id');
      expect(explained.identifiers.every((i) => i.linkedBy.startsWith('msg-') && i.rule.length > 0)).toBe(true);
    } finally {
      await stitcher.stop();
    }
    expect(await stitcher.exit).toEqual({ code: 0, signal: null });

    const stitched = await decodeAll<StitchedEvent>(codec, await readAll(kafka, setup.stitched));
    const changes = await decodeAll<IdentityChange>(codec, await readAll(kafka, setup.changes));
    const graphMessages = await readAll(kafka, setup.graph);
    const graph = finalGraph(
      await Promise.all(
        graphMessages.map(async (m) => ({
          key: m.key!.toString(),
          value: (await codec.decode<IdentityGraphRecord>(m.value!)).value,
        })),
      ),
    );
    const dead = await decodeAll<DeadLetter>(codec, await readAll(kafka, setup.dlq));

    // Exactly once: every good event stitched once, every bad one dead-lettered once.
    expect(stitched).toHaveLength(population.length);
    expect(new Set(stitched.map((s) => s.event.messageId)).size).toBe(population.length);
    expect(dead.map((d) => [d.stage, d.code]).sort()).toEqual([
      ['decode-avro-event', 'KUMIKI_UNDECODABLE'],
      ['parse-json-event', 'KUMIKI_UNDECODABLE'],
      ['resolve-profile', 'KUMIKI_NO_IDENTIFIER'],
    ]);
    expect(dead.find((d) => d.stage === 'decode-avro-event')?.originalValue.toString()).toBe('not avro at all');

    // The alias map downstream builds from merges (absorbed → survivor, flattened).
    const survivorOf = new Map<string, string>();
    for (const change of changes)
      if (change.kind === 'merge')
        for (const absorbed of change.absorbedProfileIds) survivorOf.set(absorbed, change.profileId);
    const resolveAlias = (profile: string): string => {
      let current = profile;
      for (let next = survivorOf.get(current); next !== undefined; next = survivorOf.get(current)) current = next;
      return current;
    };

    const truth = new Map(population.map((p) => [p.event.messageId, p.person]));
    const assignments: { person: string; profile: string }[] = [];
    let aliasMismatches = 0;
    for (const item of stitched) {
      const person = truth.get(item.event.messageId);
      const first = item.identifiers[0]!;
      const finalProfile = graph.get(`${first.type}:${first.value}`)!;
      if (resolveAlias(item.profileId) !== finalProfile) aliasMismatches += 1;
      if (person) assignments.push({ person, profile: finalProfile });
    }
    const scores = pairwiseScores(assignments);
    const refusals = changes.filter((c) => c.kind === 'refused').length;
    const merges = changes.filter((c) => c.kind === 'merge').length;
    console.log(`identity ground truth: ${JSON.stringify({ ...scores, merges, refusals, identifiers: graph.size })}`);
    expect(aliasMismatches).toBe(0);
    expect(scores.precision).toBe(1);
    expect(scores.recall).toBe(1);
    expect(scores.overMergeRate).toBe(0);
    expect(refusals).toBeGreaterThan(0); // the shared tablets
  }, 240_000);
});
