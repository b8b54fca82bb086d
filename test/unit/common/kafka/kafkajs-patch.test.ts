import { readFileSync } from 'node:fs';
import { KafkajsNotPatchedError, patchProblem } from '../../../../services/common/kafka/kafkajs-patch';

describe('the start-up check', () => {
  it('finds the patch in the installed kafkajs, and refuses a produce request without it, saying how to apply it', () => {
    const installed = readFileSync(require.resolve('kafkajs/src/protocol/requests/produce/v3/request.js'), 'utf8');
    expect(patchProblem(installed)).toBeUndefined();
    const unpatched = patchProblem(installed.replace(/^.*kumiki\.kafka\.records.*$/gm, ''));
    expect(unpatched).toBeInstanceOf(KafkajsNotPatchedError);
    expect(unpatched?.isRetriable).toBe(false);
    expect(unpatched?.message).toMatch(/without its patch \(patches\/kafkajs\+2\.2\.4\.patch\).*npx patch-package/);
  });
});

describe("the request queue's pending check", () => {
  // kafkajs' own module: the patch is what is under test.
  const RequestQueue = require('kafkajs/src/network/requestQueue') as new (options: {
    logger: unknown;
  }) => {
    pending: unknown[];
    throttledUntil: number;
    throttleCheckTimeoutId: unknown;
    checkPendingRequests(): void;
    destroy(): void;
  };
  const silent = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

  it('arms no timer while nothing waits and nothing is throttled, and one when something does', () => {
    const queue = new RequestQueue({ logger: silent });
    queue.checkPendingRequests();
    expect(queue.throttleCheckTimeoutId).toBeNull();
    queue.throttledUntil = Date.now() + 60_000;
    queue.checkPendingRequests();
    expect(queue.throttleCheckTimeoutId).not.toBeNull();
    queue.destroy();
    const waiting = new RequestQueue({ logger: silent });
    waiting.throttledUntil = Date.now() + 60_000;
    waiting.pending.push({});
    waiting.checkPendingRequests();
    expect(waiting.throttleCheckTimeoutId).not.toBeNull();
    waiting.destroy();
  });
});
