import { createHash } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import {
  isWebhookSecret,
  newWebhookSecret,
  secretKey,
  signature,
  signatureHeader,
  webhookId,
} from '../../../services/common/webhook-signature';

describe('Standard Webhooks signing', () => {
  const secret = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
  const body = '{"type":"segment.entered","timestamp":"2026-01-01T00:00:00.000Z","data":{"profileId":"p1"}}';

  it("signs as the specification's reference implementation does", () => {
    const at = new Date(1_767_225_600_000);
    const ours = signature(secretKey(secret), 'msg_1', Math.floor(at.getTime() / 1000), body);
    expect(ours).toBe(new Webhook(secret).sign('msg_1', at, body));
  });

  it('lets a receiver holding either secret verify during a rotation', () => {
    const fresh = newWebhookSecret();
    const timestamp = Math.floor(Date.now() / 1000);
    const header = signatureHeader([secretKey(fresh), secretKey(secret)], 'msg_2', timestamp, body);
    const headers = { 'webhook-id': 'msg_2', 'webhook-timestamp': String(timestamp), 'webhook-signature': header };
    expect(new Webhook(fresh).verify(body, headers)).toMatchObject({ type: 'segment.entered' });
    expect(new Webhook(secret).verify(body, headers)).toMatchObject({ type: 'segment.entered' });
    expect(() => new Webhook(newWebhookSecret()).verify(body, headers)).toThrow();
  });

  it('makes secrets of 32 random bytes behind whsec_', () => {
    const made = newWebhookSecret();
    expect(isWebhookSecret(made)).toBe(true);
    expect(secretKey(made)).toHaveLength(32);
    expect(newWebhookSecret()).not.toBe(made);
    expect(isWebhookSecret('whsec_c2hvcnQ=')).toBe(false);
  });

  it('derives webhook-id from the destination and the change, never from the attempt', () => {
    const id = webhookId('dst_a', 'kumiki.segments.changes', 3, '1041');
    expect(id).toMatch(/^msg_[A-Za-z0-9_-]{27}$/);
    // The derivation never changes: receivers deduplicate redeliveries made across upgrades.
    const sha = createHash('sha256').update('dst_a\nkumiki.segments.changes\n3\n1041').digest('base64url');
    expect(id).toBe(`msg_${sha.slice(0, 27)}`);
    expect(webhookId('dst_a', 'kumiki.segments.changes', 3, '1041')).toBe(id);
    expect(webhookId('dst_b', 'kumiki.segments.changes', 3, '1041')).not.toBe(id);
    expect(webhookId('dst_a', 'kumiki.segments.changes', 3, '1042')).not.toBe(id);
    expect(webhookId('dst_a', 'kumiki.segments.changes', 4, '1041')).not.toBe(id);
  });
});
