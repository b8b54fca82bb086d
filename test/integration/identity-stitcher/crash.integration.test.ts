import type { IdentityChange, IdentityGraphRecord, StitchedEvent } from '../../../schemas';
import type { AvroCodec } from '../../../services/common/registry';
import { generatePopulation } from '../../support/identity-population';
import { testKafka } from '../../support/kafka';
import {
  committedLag,
  createStitcherTopics,
  decodeAll,
  readAll,
  startStitcher,
  stitcherCodec,
  stitcherSetup,
  type StitcherSetup,
} from '../../support/stitcher';
import { waitFor } from '../../support/wait-for';

const kafka = testKafka();
const population = generatePopulation(1500, 23).map((item) => item.event);

async function prepare(prefix: string): Promise<{ setup: StitcherSetup; codec: AvroCodec }> {
  const setup = stitcherSetup(prefix);
  // One input partition: a total order, so two runs must produce identical ids.
  await createStitcherTopics(kafka, setup, 1);
  const codec = await stitcherCodec(setup);
  const producer = kafka.producer();
  await producer.connect();
  const messages = population.map((event) => ({
    key: event.userId ?? event.anonymousId ?? event.messageId,
    value: codec.encode(setup.raw, event),
  }));
  for (let i = 0; i < messages.length; i += 1000) await producer.send(setup.raw, messages.slice(i, i + 1000));
  await producer.disconnect();
  return { setup, codec };
}

async function stitchedSoFar(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return text
    .split('\n')
    .filter((line) => line.startsWith('kumiki_stitcher_events_total'))
    .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);
}

function pauses(output: string): number {
  return output.split('transaction sent, pausing before commit').length - 1;
}

async function outputs(setup: StitcherSetup, codec: AvroCodec) {
  const stitched = await decodeAll<StitchedEvent>(codec, await readAll(kafka, setup.stitched));
  const changes = await decodeAll<IdentityChange>(codec, await readAll(kafka, setup.changes));
  const graph = new Map<string, string>();
  for (const message of await readAll(kafka, setup.graph)) {
    graph.set(message.key!.toString(), (await codec.decode<IdentityGraphRecord>(message.value!)).value.profileId);
  }
  return { stitched, changes, graph };
}

type Outputs = Awaited<ReturnType<typeof outputs>>;

function expectSameAsReference(actual: Outputs, expected: Outputs): void {
  // Read committed: each event exactly once.
  const ids = actual.stitched.map((s) => s.event.messageId);
  expect(ids).toHaveLength(population.length);
  expect(new Set(ids).size).toBe(population.length);
  // Same graph, same ids (content-derived), same changes, same profile per event.
  expect(actual.graph).toEqual(expected.graph);
  expect(actual.changes.map((c) => c.changeId).sort()).toEqual(expected.changes.map((c) => c.changeId).sort());
  const profileOf = (rows: StitchedEvent[]) => new Map(rows.map((s) => [s.event.messageId, s.profileId]));
  expect(profileOf(actual.stitched)).toEqual(profileOf(expected.stitched));
}

describe('identity stitcher crash safety', () => {
  let expected: Outputs;

  beforeAll(async () => {
    // Uninterrupted reference run.
    const reference = await prepare('st-ref');
    const clean = await startStitcher(reference.setup);
    try {
      await waitFor(
        async () => {
          if ((await committedLag(kafka, reference.setup)) > 0) throw new Error('reference run not done');
        },
        { timeoutMs: 180_000, intervalMs: 500 },
      );
    } finally {
      await clean.stop();
    }
    expected = await outputs(reference.setup, reference.codec);
  }, 240_000);

  it('after SIGKILL mid-stream and a restart: no duplicate, no missing event, the same graph as an uninterrupted run', async () => {
    // Killed run.
    const crashed = await prepare('st-kill');
    // Aim the kill inside an open transaction: the instance pauses between sending a
    // transaction's records and committing it, and says so in its log.
    const first = await startStitcher(crashed.setup, { env: { STITCHER_TEST_PAUSE_BEFORE_COMMIT_MS: '400' } });
    await waitFor(
      async () => {
        const done = await stitchedSoFar(first.url);
        if (done < population.length * 0.3) throw new Error(`only ${done} stitched`);
      },
      { timeoutMs: 120_000, intervalMs: 50 },
    );
    const pausesSoFar = pauses(first.output());
    await waitFor(
      () => {
        if (pauses(first.output()) <= pausesSoFar) throw new Error('no transaction open yet');
      },
      { timeoutMs: 30_000, intervalMs: 5 },
    );
    first.child.kill('SIGKILL');
    expect(await first.exit).toEqual({ code: null, signal: 'SIGKILL' });
    const lagAtKill = await committedLag(kafka, crashed.setup);
    expect(lagAtKill).toBeGreaterThan(0); // really killed mid-stream

    const second = await startStitcher(crashed.setup);
    try {
      await waitFor(
        async () => {
          if ((await committedLag(kafka, crashed.setup)) > 0) throw new Error('restarted run not done');
        },
        { timeoutMs: 180_000, intervalMs: 500 },
      );
      expect(second.output()).toContain('identity graph restored');
    } finally {
      await second.stop();
    }

    // Records of the transaction the kill interrupted are in the log, aborted (informational:
    // whether the kill landed inside a transaction depends on timing).
    let uncommitted = 0;
    await kafka.readToEnd({
      topic: crashed.setup.stitched,
      groupIdPrefix: 'uncommitted',
      readUncommitted: true,
      onBatch: (messages) => void (uncommitted += messages.length),
    });
    expect(uncommitted).toBeGreaterThan(population.length); // the killed transaction's records are there, aborted
    const actual = await outputs(crashed.setup, crashed.codec);
    console.log(
      `crash test: ${JSON.stringify({ events: population.length, lagAtKill, abortedStitchedRecords: uncommitted - population.length, stitched: actual.stitched.length, identifiers: actual.graph.size, changes: actual.changes.length })}`,
    );

    expectSameAsReference(actual, expected);
  }, 300_000);

  it('a paused instance (zombie) is fenced by its replacement and can never commit', async () => {
    const zombieRun = await prepare('st-zombie');
    const zombie = await startStitcher(zombieRun.setup, { env: { STITCHER_TEST_PAUSE_BEFORE_COMMIT_MS: '400' } });
    await waitFor(
      async () => {
        if ((await stitchedSoFar(zombie.url)) < population.length * 0.2) throw new Error('not far enough');
      },
      { timeoutMs: 120_000, intervalMs: 50 },
    );
    const pausesSoFar = pauses(zombie.output());
    await waitFor(
      () => {
        if (pauses(zombie.output()) <= pausesSoFar) throw new Error('no transaction open yet');
      },
      { timeoutMs: 30_000, intervalMs: 5 },
    );
    zombie.child.kill('SIGSTOP'); // frozen inside an open transaction, like a paused VM

    const replacement = await startStitcher(zombieRun.setup);
    try {
      await waitFor(
        async () => {
          if ((await committedLag(kafka, zombieRun.setup)) > 0) throw new Error('replacement not done');
        },
        { timeoutMs: 180_000, intervalMs: 500 },
      );
      zombie.child.kill('SIGCONT'); // the zombie wakes up and tries to commit
      const exit = await zombie.exit;
      expect(exit.code).toBe(1);
      expect(zombie.output()).toContain('fenced by another stitcher instance');
    } finally {
      zombie.child.kill('SIGKILL');
      await replacement.stop();
    }
    expectSameAsReference(await outputs(zombieRun.setup, zombieRun.codec), expected);
  }, 300_000);
});
