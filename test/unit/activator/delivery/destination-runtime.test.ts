import type { Destination } from '../../../../schemas';
import { createActivatorMetrics } from '../../../../services/activator/activator.metrics';
import { LiveDestination } from '../../../../services/activator/delivery/destination-runtime';
import { SecretBox } from '../../../../services/activator/destinations/secret-box';
import { Registry } from '../../../../services/common/metrics';
import { secretKey } from '../../../../services/common/webhook-signature';

/** The signing keys an attempt uses are those valid at its time, newest first, kept between expiries. */
const box = new SecretBox(Buffer.alloc(32, 3));
const newest = `whsec_${Buffer.alloc(32, 1).toString('base64')}`;
const rotatedOut = `whsec_${Buffer.alloc(32, 2).toString('base64')}`;
const expiry = Date.parse('2026-12-08T00:00:00Z');

function destination(secrets: { secret: string; expiresAt: number | null }[]): Destination {
  return {
    id: 'dst_1',
    url: 'https://crm.example.com/hooks?v=2',
    rateLimit: null,
    secrets: secrets.map(({ secret, expiresAt }) => ({ ciphertext: box.seal(secret), keyId: box.keyId, expiresAt })),
  } as unknown as Destination;
}

test('signs with both secrets until the rotated-out one expires, then with the newest alone, whatever the order of calls', () => {
  const runtime = new LiveDestination(
    destination([
      { secret: newest, expiresAt: null },
      { secret: rotatedOut, expiresAt: expiry },
    ]),
    {
      secrets: box,
      concurrency: 1,
      allowPrivateTargets: false,
      autoPauseAfterMs: 60_000,
      metrics: createActivatorMetrics(new Registry()),
      pause: () => undefined,
    },
  );
  const both = [secretKey(newest), secretKey(rotatedOut)];
  expect(runtime.keys(expiry - 1_000)).toEqual(both);
  expect(runtime.keys(expiry - 1)).toEqual(both);
  expect(runtime.keys(expiry)).toEqual([secretKey(newest)]);
  expect(runtime.keys(expiry + 1_000)).toEqual([secretKey(newest)]);
  // A clock that steps back (another instance's time, a replayed test) sees the keys of its own time.
  expect(runtime.keys(expiry - 5)).toEqual(both);
  expect(runtime.url().search).toBe('?v=2');
  runtime.update(destination([{ secret: rotatedOut, expiresAt: null }]));
  expect(runtime.keys(expiry + 1_000)).toEqual([secretKey(rotatedOut)]);
  expect(runtime.url().host).toBe('crm.example.com');
  runtime.close();
});
