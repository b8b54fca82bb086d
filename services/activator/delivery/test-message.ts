import type { Destination } from '../../../schemas';
import type { TestResult } from '../destinations/destinations.routes';
import type { LiveDestination } from './destination-runtime';
import { signedHeaders } from '../../common/webhook-signature';

/**
 * `POST /v1/destinations/{id}/test`: one signed `kumiki.test` message, sent now, once (no retry,
 * no delivery log): whether the receiver is reachable and verifies the signature.
 */
export async function sendTestMessage(
  runtime: LiveDestination,
  destination: Destination,
  webhookId: string,
  timeoutMs: number,
  now: number = Date.now(),
): Promise<TestResult> {
  const body = JSON.stringify({
    type: 'kumiki.test',
    timestamp: new Date(now).toISOString(),
    data: { destinationId: destination.id, name: destination.name },
  });
  const response = await runtime.sender.send({
    url: new URL(destination.url!),
    headers: signedHeaders(runtime.keys(now), webhookId, now, body),
    body,
    timeoutMs,
  });
  const delivered = response.status !== null && response.status >= 200 && response.status < 300;
  return {
    delivered,
    status: response.status,
    latencyMs: Math.round(response.latencyMs),
    error: delivered ? null : (response.error ?? `HTTP ${response.status}`),
    webhookId,
  };
}
