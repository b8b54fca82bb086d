import { createHmac, hash, randomBytes } from 'node:crypto';

/**
 * Standard Webhooks (standardwebhooks.com) signing: the signed content is
 * `${webhook-id}.${webhook-timestamp}.${body}`, signed with HMAC-SHA256 under the secret's bytes
 * (the base64 after `whsec_`), and sent as `v1,<base64 signature>`; several signatures (a
 * secret being rotated out beside the new one) go space-separated in one header, and a
 * receiver accepts the message when any of them verifies with a secret it holds.
 */
const secretPrefix = 'whsec_';

/** A new signing secret: `whsec_` and 32 random bytes in base64. */
export function newWebhookSecret(): string {
  return `${secretPrefix}${randomBytes(32).toString('base64')}`;
}

export function isWebhookSecret(secret: string): boolean {
  return secret.startsWith(secretPrefix) && Buffer.from(secret.slice(secretPrefix.length), 'base64').length >= 24;
}

/** The key bytes of a secret (each is decoded once per destination, not per message). */
export function secretKey(secret: string): Buffer {
  return Buffer.from(secret.startsWith(secretPrefix) ? secret.slice(secretPrefix.length) : secret, 'base64');
}

export function signature(key: Buffer, webhookId: string, timestampSeconds: number, body: string | Buffer): string {
  const hmac = createHmac('sha256', key);
  hmac.update(`${webhookId}.${timestampSeconds}.`);
  hmac.update(body);
  return `v1,${hmac.digest('base64')}`;
}

/** The `webhook-signature` header: one signature per key, newest first. */
export function signatureHeader(
  keys: readonly Buffer[],
  webhookId: string,
  timestampSeconds: number,
  body: string | Buffer,
): string {
  if (keys.length === 1) return signature(keys[0]!, webhookId, timestampSeconds, body);
  return keys.map((key) => signature(key, webhookId, timestampSeconds, body)).join(' ');
}

/**
 * `webhook-id` of a change, the same for every attempt and replay: derived from the destination
 * and the change's place on its topic (each change is written once: the segment change log is
 * exactly-once, and a profile update is one record), never from the attempt. The destination is
 * part of it so that two destinations pointing at one receiver are not taken for duplicates.
 */
export function webhookId(destinationId: string, topic: string, partition: number, offset: string): string {
  // The one-shot hash: no Hash stream object per message.
  const digest = hash('sha256', `${destinationId}\n${topic}\n${partition}\n${offset}`, 'base64url');
  return `msg_${digest.slice(0, 27)}`;
}

/** The headers of a signed message, signed with the time of the attempt (`sentAt`, epoch ms). */
export function signedHeaders(
  keys: readonly Buffer[],
  webhookId: string,
  sentAt: number,
  body: string,
): Record<string, string> {
  const timestamp = Math.floor(sentAt / 1000);
  return {
    'content-type': 'application/json',
    'user-agent': 'kumiki-activator',
    'webhook-id': webhookId,
    'webhook-timestamp': String(timestamp),
    'webhook-signature': signatureHeader(keys, webhookId, timestamp, body),
  };
}
