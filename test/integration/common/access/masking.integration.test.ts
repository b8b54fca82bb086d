import fs from 'node:fs';
import path from 'node:path';
import type { ClickHouse } from '../../../../services/common/clickhouse/client-factory';
import { createMaskedClickHouse } from '../../../../services/common/clickhouse/masked-client';
import { applyMasking, defaultPersonalKeys } from '../../../../services/common/clickhouse/masking';
import type { KafkaClient } from '../../../../services/common/kafka/client';
import { encodeEventRows, ProfileRepository } from '../../../../services/profile-materializer/profile.repository';
import { identityRowsOfEvent, toEventRow } from '../../../../services/profile-materializer/store-rows';
import type { StitchedEvent } from '../../../../schemas';
import { testKafka } from '../../../support/kafka';
import { embeddedHome, freshDatabase, quietLogger } from '../../profile-materializer/materializer-test-env';
import { type AccessTestApi, adminToken, startAccessTestApi } from './access-test-env';

const email = 'ann.quux@example.com';
const phone = '+14155550123';
const fullName = 'Annabel Quux';
const address = '7 Quux Lane';
const ip = '203.0.113.9';
const deviceId = 'dev-annabel-7f3a';
const mobile = '090-1234-5678';
/** Any of these in an analyst's answer is a leak. */
const secrets = [email, phone, fullName, address, ip, deviceId, mobile, 'u-annabel'];

function stitched(): StitchedEvent {
  const at = Date.now() - 3_600_000;
  return {
    profileId: 'p-ann',
    identifiers: [
      { type: 'email', value: email },
      { type: 'phone', value: phone },
      { type: 'user_id', value: 'u-annabel' },
    ],
    stitchedAt: at,
    event: {
      messageId: 'mask-1',
      type: 'identify',
      event: null,
      name: null,
      userId: 'u-annabel',
      anonymousId: 'anon-77',
      previousId: null,
      groupId: null,
      timestamp: at,
      sentAt: null,
      receivedAt: at,
      channel: 'web',
      source: 'test',
      context: JSON.stringify({
        ip,
        device: { id: deviceId, type: 'ios' },
        traits: { email, name: fullName },
        page: { path: `/account/${email}/orders`, url: `https://shop.example/account/${email}/orders?x=1` },
      }),
      traits: JSON.stringify({ email, phone, name: fullName, address, phone_number: mobile, plan: 'gold' }),
      consent: {},
      properties: JSON.stringify({
        contact: email,
        customer: { email, tier: 2 },
        items: [{ sku: 'A1', buyer: { phone } }],
        total: 12.5,
      }),
    },
  };
}

describe('PII masking enforced by ClickHouse', () => {
  let kafka: KafkaClient;
  let ch: ClickHouse;
  let masked: ClickHouse | undefined;
  let api: AccessTestApi;
  let analyst = '';
  const home = embeddedHome('masking');

  beforeAll(async () => {
    kafka = testKafka();
    ch = await freshDatabase(home);
    const repository = new ProfileRepository(ch);
    const record = stitched();
    await repository.writeEvents(encodeEventRows([toEventRow(record)]));
    await repository.writeIdentities(identityRowsOfEvent(record));
    await repository.writeSnapshots(
      await repository.readSnapshots(['p-ann'], await repository.loadAliasGroups(['p-ann'])),
    );
    await applyMasking(ch, { piiKey: Buffer.alloc(32, 9), personalKeys: defaultPersonalKeys });
    masked = await createMaskedClickHouse(
      {
        CLICKHOUSE_URL: undefined,
        CLICKHOUSE_USER: 'default',
        CLICKHOUSE_PASSWORD: '',
        CLICKHOUSE_DATABASE: ch.database,
        KUMIKI_HOME: home,
        CLICKHOUSE_MASKED_USER: 'kumiki_masked',
      },
      ch,
      quietLogger,
    );
    api = await startAccessTestApi({ kafka, clickhouse: ch, maskedClickhouse: () => masked });
    analyst = (await api.call('POST', '/v1/keys', adminToken, { name: 'attacker', role: 'analyst' })).body
      .secret as string;
  });
  afterAll(async () => {
    await api.close();
    await masked?.close();
    await ch.close();
  });

  const sql = (token: string, query: string) => api.call('POST', '/v1/sql', token, { query });

  it('gives analysts pseudonyms that count and join, and admins the raw values', async () => {
    const ids = await sql(analyst, 'SELECT identifier_type, identifier_value FROM identities ORDER BY identifier_type');
    expect(ids.status).toBe(200);
    const rows = ids.body.rows as { identifier_type: string; identifier_value: string }[];
    expect(rows.map((r) => r.identifier_type)).toEqual(['email', 'phone', 'user_id']);
    for (const row of rows) expect(row.identifier_value).toMatch(/^pii_[0-9a-f]{24}$/);
    const joined = await sql(
      analyst,
      "SELECT count() AS n FROM events AS e INNER JOIN identities AS i ON i.identifier_value = e.user_id WHERE i.identifier_type = 'user_id'",
    );
    expect(joined.body.rows).toEqual([{ n: '1' }]);
    const traits = await sql(
      analyst,
      "SELECT JSONExtractString(traits, 'plan') AS plan, JSONExtractString(traits, 'email') AS email FROM profiles",
    );
    expect(traits.body.rows).toEqual([{ plan: 'gold', email: expect.stringMatching(/^pii_/) }]);

    const raw = await sql(adminToken, "SELECT identifier_value FROM identities WHERE identifier_type = 'email'");
    expect(raw.body.rows).toEqual([{ identifier_value: email }]);
  });

  it('answers /v1/profiles and /explain with pseudonyms for analysts, raw for pii:read', async () => {
    const forAnalyst = await api.call('GET', `/v1/profiles/email/${email}`, analyst);
    expect(forAnalyst.status).toBe(200);
    expect(forAnalyst.body.profileId).toBe('p-ann');
    expect(JSON.stringify(forAnalyst.body)).toMatch(/pii_[0-9a-f]{24}/);
    for (const secret of secrets) expect(JSON.stringify(forAnalyst.body)).not.toContain(secret);
    const explained = await api.call('GET', `/v1/profiles/email/${email}/explain`, analyst);
    expect(explained.status).toBe(200);
    for (const secret of secrets) expect(JSON.stringify(explained.body)).not.toContain(secret);
    const forAdmin = await api.call('GET', `/v1/profiles/email/${email}`, adminToken);
    expect(JSON.stringify(forAdmin.body)).toContain(email);
  });

  it('an analyst cannot reach a raw value by any of these routes', async () => {
    const db = ch.database;
    const attempts = [
      'SELECT * FROM identities',
      'SELECT * FROM events',
      'SELECT * FROM profiles',
      'SELECT search_text FROM profiles',
      'SELECT * FROM identity_links',
      `SELECT * FROM ${db}.identities`,
      `SELECT * FROM \`${db}\`.identities_store`,
      `SELECT * FROM ${db}.events_store`,
      `SELECT * FROM ${db}.profiles_store`,
      `SELECT * FROM ${db}.identity_links_store`,
      `SELECT * FROM ${db}.profile_facts_store`,
      `SELECT * FROM ${db}.masking_key`,
      `SELECT * FROM ${db}.audit_log`,
      `SELECT * FROM (SELECT * FROM ${db}.identities_store)`,
      `WITH x AS (SELECT * FROM ${db}.profiles_store) SELECT * FROM x`,
      `SELECT toString(number) AS v FROM numbers(1) UNION ALL SELECT identifier_value FROM ${db}.identities_store`,
      `SELECT * FROM view(SELECT * FROM ${db}.identities_store)`,
      "SELECT JSONExtractString(properties, 'contact') AS v FROM events",
      "SELECT JSONExtractString(properties, 'customer', 'email') AS v FROM events",
      "SELECT JSONExtractRaw(properties, 'items') AS v FROM events",
      "SELECT JSONExtractString(context, 'traits', 'email') AS v, JSONExtractString(context, 'ip') AS ip FROM events",
      'SELECT JSONExtractKeysAndValuesRaw(traits) AS v FROM profiles',
      'SELECT identifiers FROM profiles',
      'SELECT user_id, anonymous_id FROM events',
      'SELECT device_id FROM events',
      'SELECT page_path FROM events',
      "SELECT JSONExtractString(context, 'page', 'url') AS v FROM events",
      "SELECT JSONExtractString(context, 'device', 'id') AS v FROM events",
      `SELECT * FROM identities WHERE identifier_value = '${email}'`,
      'SELECT query FROM system.processes',
      'SELECT * FROM system.query_log',
      'SELECT last_error_message FROM system.errors',
      "SELECT create_table_query FROM system.tables WHERE database NOT LIKE 'masked%'",
      'SELECT * FROM system.parts',
      'SELECT * FROM system.dictionaries',
      "SELECT * FROM file('/etc/passwd', 'LineAsString')",
      `SELECT * FROM remote('127.0.0.1', ${db}.identities_store)`,
      `SELECT * FROM cluster('default', ${db}.identities_store)`,
      `SELECT * FROM merge('${db}', '.*')`,
      "SELECT * FROM url('http://127.0.0.1:1/x', 'CSV', 'a String')",
      "SELECT * FROM s3('http://127.0.0.1:1/b/x.csv', 'CSV', 'a String')",
      "SELECT * FROM executable('cat /etc/passwd', 'LineAsString', 'a String')",
      `SELECT * FROM loop(${db}.identities_store) LIMIT 1`,
      "SELECT dictGet('kumiki.any', 'value', toUInt64(1))",
      'SET ROLE kumiki_owner',
      // A second statement: chDB runs every statement of a request, ClickHouse's parser decides where they end.
      `SELECT 1 AS v; SET ROLE kumiki_owner; SELECT identifier_value AS v FROM ${db}.identities_store`,
      `SELECT $$'$$ AS v; SET ROLE kumiki_owner; SELECT identifier_value AS v FROM ${db}.identities_store WHERE $$'$$ != ''`,
      'SET ROLE DEFAULT',
      'SELECT 1 SETTINGS readonly = 0',
      `SHOW CREATE TABLE ${db}.masking_key`,
      `DESCRIBE TABLE ${db}.identities_store`,
      `EXPLAIN SELECT * FROM ${db}.identities_store`,
      "SELECT * FROM identities INTO OUTFILE '/tmp/kumiki-masking-attempt.csv'",
      `INSERT INTO ${db}.identities_store SELECT * FROM ${db}.identities_store`,
      `CREATE VIEW masked_${db}.steal SQL SECURITY DEFINER AS SELECT * FROM ${db}.identities_store`,
    ];
    expect(attempts.length).toBeGreaterThanOrEqual(30);
    const outcomes: { query: string; status: number; leaked: string[] }[] = [];
    for (const query of attempts) {
      const answer = await sql(analyst, query);
      const text = JSON.stringify(answer.body).toLowerCase();
      outcomes.push({ query, status: answer.status, leaked: secrets.filter((s) => text.includes(s.toLowerCase())) });
    }
    expect(outcomes.filter((o) => o.leaked.length > 0)).toEqual([]);
    expect(fs.existsSync('/tmp/kumiki-masking-attempt.csv')).toBe(false);
    // The role change attempted above did not outlive its own statement.
    const after = await sql(analyst, `SELECT count() AS n FROM ${db}.identities_store`);
    expect(after.status).toBe(400);
    // Some attempts ran (and returned pseudonyms), the rest were refused.
    expect(outcomes.filter((o) => o.status === 200).length).toBeGreaterThan(10);
    expect(outcomes.filter((o) => o.status !== 200).length).toBeGreaterThan(15);
  });

  it("an admin's SQL answers with rows and writes no file on the host", async () => {
    const file = path.join(home, 'admin-outfile.csv');
    const answer = await sql(adminToken, `SELECT identifier_value FROM identities INTO OUTFILE '${file}'`);
    expect(answer.status).toBe(403);
    expect(answer.body.code).toBe('KUMIKI_SQL_READ_ONLY');
    expect(fs.existsSync(file)).toBe(false);
    expect((await sql(adminToken, 'SELECT count() AS n FROM identities')).body.rows).toEqual([{ n: '3' }]);
  });

  it('segment SQL cannot smuggle in a second statement that writes raw values to a file', async () => {
    const file = path.join(home, 'segment-attempt.csv');
    // One statement by a quote-counting splitter, two by ClickHouse (a heredoc holds the quote).
    const smuggled = `SELECT $$'$$ AS x, profile_id FROM profiles; SELECT identifier_value FROM identities WHERE $$'$$ != '' INTO OUTFILE '${file}'`;
    const answer = await api.call('POST', '/v1/segments/preview', adminToken, { sql: smuggled });
    expect(answer.status).toBe(400);
    expect(fs.existsSync(file)).toBe(false);
  });

  it('keys without pii:read cannot define or preview SQL segments, whose answers read the raw tables', async () => {
    // Both would reveal the email: in the error's text, and letter by letter in the count.
    const quoting = "SELECT toString(toUInt8(JSONExtractString(traits, 'email'))) AS profile_id FROM profiles";
    const guessing = "SELECT profile_id FROM profiles WHERE startsWith(JSONExtractString(traits, 'email'), 'a')";
    const marketer = (await api.call('POST', '/v1/keys', adminToken, { name: 'segments', role: 'marketer' })).body
      .secret as string;
    for (const [key, route, sqlText] of [
      [analyst, '/v1/segments/preview', quoting],
      [analyst, '/v1/segments/preview', guessing],
      [marketer, '/v1/segments', guessing],
    ] as const) {
      const answer = await api.call('POST', route, key, { name: 'probe', sql: sqlText });
      expect(answer.status).toBe(403);
      expect(answer.body).toMatchObject({ code: 'KUMIKI_FORBIDDEN', field: 'sql' });
      expect(JSON.stringify(answer.body)).not.toMatch(/@example/);
    }
    // A rule is still theirs to preview and save; an admin's SQL still runs.
    const rule = await api.call('POST', '/v1/segments/preview', analyst, { rule: { trait: 'plan', op: 'exists' } });
    expect(rule.status).toBe(200);
    const admin = await api.call('POST', '/v1/segments/preview', adminToken, { sql: guessing });
    expect(admin.status).toBe(200);
  });
});
