import { Kafka, logLevel } from 'kafkajs';
import { createTestTopic, testKafka } from '../../../support/kafka';
import { testStack, uniqueName } from '../../../support/stack-env';
import { waitFor } from '../../../support/wait-for';

/**
 * A consumer disconnected while it is still joining its group (a destination paused right after
 * it was created) must leave the group for good. kafkajs restarts a consumer whose run crashed on
 * a retriable error, and a disconnect racing the join crashes it ("write after end"): unless that
 * restart is refused, a member nobody owns stays in the group for ever, heartbeating and holding
 * partitions it never reads. (A join answered just after the disconnect leaves a silent member,
 * which the group drops after the session timeout.)
 */
jest.setTimeout(120_000);

const client = testKafka();
const raw = new Kafka({
  brokers: [...testStack().brokers],
  clientId: uniqueName('groups'),
  logLevel: logLevel.NOTHING,
});
const sessionTimeoutMs = 6_000;

it('leaves no member in the group, whatever moment of the join it was disconnected at', async () => {
  const topic = await createTestTopic(client, 'mid-join', 3);
  const groups: string[] = [];
  for (let round = 0; round < 3; round++) {
    await Promise.all(
      [0, 1, 3, 5, 10, 20, 40, 80].map(async (delayMs) => {
        const groupId = uniqueName(`mid-join-${delayMs}`);
        groups.push(groupId);
        const consumer = client.consumer({ groupId, topics: [topic], sessionTimeoutMs });
        await consumer.connect();
        void consumer.run(async () => undefined).catch(() => undefined);
        await new Promise((resolve) => setTimeout(resolve, delayMs));
        await consumer.disconnect();
      }),
    );
  }
  const admin = raw.admin();
  await admin.connect();
  try {
    const membersOf = async () =>
      Object.fromEntries((await admin.describeGroups(groups)).groups.map((g) => [g.groupId, g.members.length]));
    await waitFor(async () => expect(await membersOf()).toEqual(Object.fromEntries(groups.map((g) => [g, 0]))), {
      timeoutMs: 4 * sessionTimeoutMs,
    });
  } finally {
    await admin.disconnect();
  }
});
