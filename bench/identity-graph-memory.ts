/**
 * Memory per identifier and rebuild time of the identity graph, without Kafka.
 *
 *   npm run build && node --expose-gc dist/bench/identity-graph-memory.js [people=250000] [restore]
 *
 * Builds a graph from a synthetic population (user ids, emails, phones, device UUIDs,
 * anonymous UUIDs, UUID messageIds — the sizes real traffic has) and measures heap +
 * typed-array memory per identifier after a full GC. With `restore`, it instead keeps the
 * final changelog, encodes it as Avro `IdentityGraphRecord`s and times decode + restore
 * (start-up minus the fetch from Kafka; identity-graph-restore.ts measures it through Kafka).
 */
import { randomBytes } from 'node:crypto';
import { IdentityGraph, type LinkRequest } from '../services/identity-stitcher/identity/identity-graph';
import { linkRules, resolveIdentityRules } from '../services/identity-stitcher/identity/identity-rules';
import { schema } from '../schemas';
import type { IdentityGraphRecord } from '../schemas';

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with node --expose-gc');

function memory(): number {
  gc!();
  gc!();
  const usage = process.memoryUsage();
  return usage.heapUsed + usage.arrayBuffers;
}

/**
 * Values as a consumer holds them: flat strings decoded from bytes. (crypto.randomUUID()
 * strings and template literals are cons/sliced strings several times larger, which would
 * measure V8's string representation instead of the graph.)
 */
function flat(text: string): string {
  return Buffer.from(text, 'latin1').toString('latin1');
}

function uuid(): string {
  const hex = randomBytes(16).toString('hex');
  return flat(`${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`);
}

function* population(people: number): Generator<LinkRequest> {
  let time = Date.UTC(2026, 0, 1);
  for (let p = 0; p < people; p++) {
    const anonymous = Array.from({ length: 1 + (p % 4) }, () => uuid());
    const devices = Array.from({ length: 1 + (p % 2) }, () => uuid());
    const userId = p % 10 < 7 ? flat(`u-${(1_000_000 + p).toString(36)}${p % 97}`) : undefined;
    const email = p % 10 < 8 ? flat(`first.last${p}@example${p % 50}.com`) : undefined;
    const phone = p % 10 < 3 ? flat(`+1415${String(1_000_000 + p).slice(-7)}`) : undefined;
    for (let i = 0; i < anonymous.length; i++) {
      time += 1_000;
      const identifiers: { type: string; value: string }[] = [
        { type: 'anonymous_id', value: anonymous[i]! },
        { type: 'device_id', value: devices[i % devices.length]! },
      ];
      if (userId) identifiers.push({ type: 'user_id', value: userId });
      else if (email) identifiers.push({ type: 'email', value: email });
      if (email && i === 0) identifiers.push({ type: 'email', value: email });
      if (phone && i === 0) identifiers.push({ type: 'phone', value: phone });
      yield { messageId: uuid(), eventTime: time, receivedAt: time, rule: linkRules.sameEvent, identifiers };
    }
  }
}

function main(): void {
  const people = Number(process.argv[2] ?? 250_000);
  const rules = resolveIdentityRules();
  const before = memory();
  const graph = new IdentityGraph(rules);
  const changelog = new Map<string, IdentityGraphRecord>();
  const keepChangelog = process.argv[3] === 'restore';
  let events = 0;
  const started = process.hrtime.bigint();
  for (const request of population(people)) {
    const resolution = graph.resolve(request)!;
    events += 1;
    if (keepChangelog)
      for (const record of resolution.graphRecords)
        changelog.set(`${record.identifier.type}:${record.identifier.value}`, record);
  }
  const resolveMs = Number(process.hrtime.bigint() - started) / 1e6;
  const identifiers = graph.identifierCount;
  const graphBytes = keepChangelog ? 0 : memory() - before;
  console.log(
    JSON.stringify({
      people,
      events,
      identifiers,
      profiles: graph.profileCount,
      resolveMs: Math.round(resolveMs),
      eventsPerSecond: Math.round((events / resolveMs) * 1000),
    }),
  );
  if (!keepChangelog) {
    console.log(
      JSON.stringify({
        bytesPerIdentifier: Math.round(graphBytes / identifiers),
        graphMiB: Math.round(graphBytes / 2 ** 20),
      }),
    );
    return;
  }

  // Start-up: decode + restore every record of the compacted changelog.
  const type = schema('IdentityGraphRecord').type;
  const encoded = [...changelog.values()].map((record) => type.toBuffer(record));
  changelog.clear();
  const snapshot = graph.snapshot();
  const baseline = memory();
  const restoreStarted = process.hrtime.bigint();
  const rebuilt = new IdentityGraph(rules);
  for (const buffer of encoded) rebuilt.restoreRecord(type.fromBuffer(buffer) as IdentityGraphRecord);
  rebuilt.finishRestore();
  const restoreMs = Number(process.hrtime.bigint() - restoreStarted) / 1e6;
  (globalThis as { keepAlive?: unknown }).keepAlive = [encoded, snapshot, graph];
  const rebuiltBytes = memory() - baseline;
  const same =
    JSON.stringify([...rebuilt.snapshot()]) === JSON.stringify([...snapshot]) &&
    rebuilt.profileCount === graph.profileCount;
  console.log(
    JSON.stringify({
      restoredIdentifiers: rebuilt.identifierCount,
      restoreMs: Math.round(restoreMs),
      restoreMsPerMillionIdentifiers: Math.round((restoreMs / rebuilt.identifierCount) * 1e6),
      rebuiltBytesPerIdentifier: Math.round(rebuiltBytes / rebuilt.identifierCount),
      sameAsLive: same,
    }),
  );
}

main();
