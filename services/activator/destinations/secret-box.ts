import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { InternalError } from '../../common/errors';

/**
 * Signing secrets are stored encrypted (AES-256-GCM) in kumiki.destinations, because the
 * activator must read them back to sign: a hash would not do. The key lives beside the
 * credentials (`.kumiki/secrets.key`, mode 0600, or KUMIKI_SECRETS_KEY), never on Kafka; each
 * sealed value names the key that sealed it, so a wrong key is reported as such rather than as
 * a corrupt record. Layout: IV (12 bytes) ‖ tag (16 bytes) ‖ ciphertext.
 */
export class SecretBox {
  readonly keyId: string;

  constructor(private readonly key: Buffer) {
    if (key.length !== 32) throw new RangeError('the secrets key must be 32 bytes');
    this.keyId = createHash('sha256').update(key).digest('hex').slice(0, 16);
  }

  seal(plaintext: string): Buffer {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return Buffer.concat([iv, cipher.getAuthTag(), body]);
  }

  open(sealed: Buffer, keyId: string): string {
    if (keyId !== this.keyId)
      throw new InternalError(
        `a destination secret was sealed with secrets key ${keyId}, but this activator has key ${this.keyId}: every instance needs the same KUMIKI_SECRETS_KEY`,
        { keyId },
      );
    const decipher = createDecipheriv('aes-256-gcm', this.key, sealed.subarray(0, 12));
    decipher.setAuthTag(sealed.subarray(12, 28));
    return Buffer.concat([decipher.update(sealed.subarray(28)), decipher.final()]).toString('utf8');
  }
}
