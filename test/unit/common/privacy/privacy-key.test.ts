import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { canonicalJson } from '../../../../services/common/privacy/canonical-json';
import {
  loadOrCreatePrivacyKeyFile,
  PrivacyKey,
  readPrivacyKeyFile,
} from '../../../../services/common/privacy/privacy-key';
import { signReport, verifyReport, type UnsignedReport } from '../../../../services/common/privacy/privacy-report';

const key = PrivacyKey.fromHex('11'.repeat(32));
const other = PrivacyKey.fromHex('22'.repeat(32));

describe('canonicalJson', () => {
  it('depends on values only: keys sorted at every level, arrays kept in order, undefined left out', () => {
    expect(canonicalJson({ b: 1, a: { d: [2, 1], c: 'x' }, u: undefined })).toBe('{"a":{"c":"x","d":[2,1]},"b":1}');
    expect(canonicalJson({ a: { c: 'x', d: [2, 1] }, b: 1 })).toBe(canonicalJson({ b: 1, a: { d: [2, 1], c: 'x' } }));
    expect(() => canonicalJson({ n: Number.NaN })).toThrow(RangeError);
  });
});

describe('PrivacyKey', () => {
  it('hashes identifiers and profile ids with the key, each in its own namespace, 128 bits in hex', () => {
    const hash = key.hashIdentifier('email', 'ann@example.com');
    expect(hash).toMatch(/^[0-9a-f]{32}$/);
    expect(key.hashIdentifier('email', 'ann@example.com')).toBe(hash);
    expect(other.hashIdentifier('email', 'ann@example.com')).not.toBe(hash);
    expect(key.hashIdentifier('user_id', 'ann@example.com')).not.toBe(hash);
    expect(key.hashProfileId('email:ann@example.com')).not.toBe(hash);
  });

  it('signs canonical JSON, so a value verifies however its keys were ordered, and only with its key', () => {
    const signature = key.sign({ a: 1, b: [1, 2] });
    expect(key.verify({ b: [1, 2], a: 1 }, signature)).toBe(true);
    expect(key.verify({ a: 1, b: [2, 1] }, signature)).toBe(false);
    expect(other.verify({ a: 1, b: [1, 2] }, signature)).toBe(false);
    expect(key.keyId).toMatch(/^[0-9a-f]{16}$/);
    expect(key.keyId).not.toBe(other.keyId);
  });

  it('refuses a key that is not 32 bytes of hex', () => {
    expect(() => PrivacyKey.fromHex('abc')).toThrow(/64 hex characters/);
  });

  it('keeps its key file with mode 0600, made once, reused after', async () => {
    const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'kumiki-key-')), 'privacy.key');
    const made = await loadOrCreatePrivacyKeyFile(file);
    expect(made).toMatch(/^[0-9a-f]{64}$/);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(await loadOrCreatePrivacyKeyFile(file)).toBe(made);
    expect(readFileSync(file, 'utf8').trim()).toBe(made);
    writeFileSync(file, 'not a key');
    await expect(readPrivacyKeyFile(file)).rejects.toThrow(/64 hex characters/);
  });
});

describe('privacy reports', () => {
  const unsigned = {
    format: 'kumiki.privacy-report/1',
    requestId: 'pr_1',
    type: 'erase',
    identifier: { type: 'email', hash: key.hashIdentifier('email', 'ann@example.com') },
    requestedAt: '2026-12-01T00:00:00.000Z',
    requestedBy: 'test',
    deadlineAt: '2026-12-31T00:00:00.000Z',
    completedAt: '2026-12-01T00:01:00.000Z',
    deadlineMet: true,
    subject: {
      outcome: 'found',
      erasedBy: null,
      profileIdHashes: [],
      mergedProfileIdHashes: [],
      identifiers: [],
      summary: 's',
    },
    clickhouse: [{ store: 'events_store', kind: 'table', matchedBy: ['profile_id'], rows: 3, deleted: 3, after: 0 }],
    kafka: [],
    residual: [],
    verified: true,
    notes: [],
    keyId: key.keyId,
  } satisfies UnsignedReport;

  it('verify as signed, and not once any figure changed or with another key', () => {
    const report = signReport(unsigned, key);
    expect(verifyReport(report, key)).toEqual({ valid: true, reason: 'signature matches' });
    expect(verifyReport(JSON.parse(JSON.stringify(report)), key).valid).toBe(true);
    const changed = { ...report, clickhouse: [{ ...report.clickhouse[0]!, after: 1 }] };
    expect(verifyReport(changed, key)).toMatchObject({ valid: false, reason: expect.stringMatching(/changed after/) });
    expect(verifyReport(report, other)).toMatchObject({
      valid: false,
      reason: expect.stringMatching(/signed with key/),
    });
  });
});
