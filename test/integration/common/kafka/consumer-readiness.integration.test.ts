import pino from 'pino';
import { createKafkaClient } from '../../../../services/common/kafka/client';
import { startPrivateBroker, type PrivateBroker } from '../../../support/private-broker';
import { withServiceLogsOnFailure } from '../../../support/service-process';
import { createStitcherTopics, startStitcher, stitcherSetup, type RunningStitcher } from '../../../support/stitcher';
import { waitFor } from '../../../support/wait-for';

/**
 * A consuming service is ready only while its consumer is in its group. With the broker gone
 * for longer than kafkajs' retries, the consumer crashes and is restarted (by kafkajs here,
 * the error being retriable) until the broker is back and it joins again: in between, the
 * Kafka connection is fine again but nothing is consumed, and `/ready` must say so.
 */
jest.setTimeout(240_000);

let broker: PrivateBroker | undefined;
let stitcher: RunningStitcher | undefined;

afterAll(async () => {
  await stitcher?.stop();
  await broker?.close();
});

it('answers not ready from a consumer crash until the consumer has joined its group again', () =>
  withServiceLogsOnFailure(async () => {
    broker = await startPrivateBroker();
    const setup = stitcherSetup('ready');
    await createStitcherTopics(
      createKafkaClient({ brokers: [broker.address], clientId: 'readiness-test', logger: pino({ level: 'silent' }) }),
      setup,
      2,
    );
    stitcher = await startStitcher(setup, { env: { KAFKA_BROKERS: broker.address } });

    // Every distinct answer of /ready, polled throughout.
    const answers: { status: number; components: Record<string, boolean> }[] = [];
    let polling = true;
    const poll = (async () => {
      while (polling) {
        const answer = await fetch(`${stitcher!.url}/ready`)
          .then(async (response) => ({
            status: response.status,
            components: ((await response.json()) as { components: Record<string, boolean> }).components,
          }))
          .catch(() => undefined);
        const last = answers[answers.length - 1];
        if (answer && JSON.stringify(answer) !== JSON.stringify(last)) answers.push(answer);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    })();

    await broker.stop();
    // Longer than the consumer's retries against a refused connection (~7 s), so it crashes.
    await new Promise((resolve) => setTimeout(resolve, 20_000));
    await broker.start();
    await waitFor(() => expect(answers[answers.length - 1]?.status).toBe(200), { timeoutMs: 120_000, intervalMs: 200 });
    polling = false;
    await poll;

    expect(answers[0]?.status).toBe(200);
    // The consumer's own state is part of the answer: without it the stitcher component stays
    // true throughout, and the service reads ready as soon as the Kafka check does (here that
    // moment is usually seen too, `kafka: true, stitcher: false`, but how long it lasts depends
    // on where kafkajs' restart backoff stands when the broker comes back).
    expect(answers).toContainEqual({ status: 503, components: expect.objectContaining({ stitcher: false }) });
  }));
