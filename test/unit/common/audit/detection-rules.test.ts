import type { AccessDecision, Principal } from '../../../../services/common/access';
import { scopesOf } from '../../../../services/common/access';
import { DetectionRules, parseRoleHours } from '../../../../services/common/audit/detection-rules';

const HOUR = 3_600_000;
const analyst: Principal = { keyId: 'k1', keyName: 'bi', role: 'analyst', scopes: scopesOf('analyst') };
const officer: Principal = {
  keyId: 'k2',
  keyName: 'dpo',
  role: 'privacy-officer',
  scopes: scopesOf('privacy-officer'),
};
/** Tuesday 10:00 UTC. */
const start = Date.UTC(2025, 0, 7, 10);

function call(
  overrides: Partial<AccessDecision> & { profileIds?: string[]; rows?: number; pii?: boolean },
): AccessDecision {
  const { profileIds = [], rows, pii = false, ...rest } = overrides;
  return {
    at: start,
    source: '10.0.0.1',
    method: 'GET',
    route: '/v1/profiles/:type/:value',
    scope: 'profile:read',
    principal: analyst,
    claimed: undefined,
    outcome: 'allowed',
    status: 200,
    code: undefined,
    details: { profileIds, identifiers: [], ...(rows !== undefined ? { rows } : {}), piiReturned: pii },
    blockStarted: undefined,
    deadKey: undefined,
    ...rest,
  };
}

const settings = { minProfiles: 50, spikeFactor: 10, bulkPiiRows: 1000, roleHours: parseRoleHours('analyst=7-19')! };

/** A normal week: the analyst reads 20 profiles an hour in office hours from one address. */
function normalTraffic(rules: DetectionRules): string[] {
  const rules_: string[] = [];
  for (let h = 0; h < 9; h++)
    for (let i = 0; i < 20; i++)
      rules_.push(...rules.observe(call({ at: start + h * HOUR + i, profileIds: [`p${h}-${i}`] })).map((a) => a.rule));
  rules_.push(
    ...rules.observe(call({ principal: officer, profileIds: ['p1'], rows: 1, pii: true })).map((a) => a.rule),
  );
  return rules_;
}

describe('detection rules', () => {
  it('stay silent on normal traffic', () => {
    expect(normalTraffic(new DetectionRules(settings))).toEqual([]);
  });

  it('raise failed-auth-burst once per block, with the blocked subject', () => {
    const rules = new DetectionRules(settings);
    const denied = { principal: undefined, outcome: 'denied' as const, status: 401 };
    expect(rules.observe(call({ ...denied }))).toEqual([]);
    expect(rules.observe(call({ ...denied, blockStarted: 'address:10.0.0.9' }))).toEqual([
      expect.objectContaining({ rule: 'failed-auth-burst', subject: 'address:10.0.0.9', severity: 'high' }),
    ]);
  });

  it('raise dead-key-used for a revoked key, once an hour', () => {
    const rules = new DetectionRules(settings);
    const claimed = {
      id: 'k9',
      name: 'old',
      role: 'analyst' as const,
      secretHashes: [],
      createdAt: 0,
      expiresAt: null,
      revokedAt: 1,
    };
    const dead = call({ principal: undefined, claimed, deadKey: 'revoked', outcome: 'denied', status: 401 });
    expect(rules.observe(dead).map((a) => [a.rule, a.subject])).toEqual([['dead-key-used', 'key:k9']]);
    expect(rules.observe({ ...dead, at: start + 1000 })).toEqual([]);
    expect(rules.observe({ ...dead, at: start + HOUR + 1 })).toHaveLength(1);
  });

  it('raise profile-read-spike when a key reads far more profiles than its baseline', () => {
    const rules = new DetectionRules(settings);
    normalTraffic(rules);
    const spike = start + 9 * HOUR;
    const raised: string[] = [];
    for (let i = 0; i < 250; i++)
      raised.push(...rules.observe(call({ at: spike + i, profileIds: [`s${i}`] })).map((a) => a.rule));
    // Baseline 20 an hour → limit max(50, 200): the 201st distinct profile raises it, once.
    expect(raised).toEqual(['profile-read-spike']);
  });

  it('raise bulk-pii-export for one answer with raw data of many rows', () => {
    const rules = new DetectionRules(settings);
    expect(rules.observe(call({ principal: officer, rows: 999, pii: true }))).toEqual([]);
    expect(
      rules.observe(call({ principal: officer, at: start + 1, rows: 5000, pii: true })).map((a) => a.rule),
    ).toEqual(['bulk-pii-export']);
    expect(rules.observe(call({ at: start + 2, rows: 5000, pii: false }))).toEqual([]);
  });

  it('raise outside-hours for a role used at night, and new-address for a new source', () => {
    const rules = new DetectionRules(settings);
    expect(rules.observe(call({}))).toEqual([]);
    const night = Date.UTC(2025, 0, 7, 23);
    expect(rules.observe(call({ at: night })).map((a) => a.rule)).toEqual(['outside-hours']);
    expect(rules.observe(call({ at: start + 5, source: '198.51.100.4' })).map((a) => [a.rule, a.detail])).toEqual([
      ['new-address', 'key k1 used from a new address 198.51.100.4'],
    ]);
    expect(rules.observe(call({ at: start + 6, source: '198.51.100.4' }))).toEqual([]);
  });

  it('reads role hours and refuses malformed ones', () => {
    expect(parseRoleHours('analyst=7-19, marketer=22-5')).toEqual({ analyst: [7, 19], marketer: [22, 5] });
    expect(parseRoleHours('analyst=7to19')).toBeUndefined();
    expect(parseRoleHours('')).toEqual({});
  });
});
