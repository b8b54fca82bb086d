import { randomUUID } from 'node:crypto';
import type { SecurityAlert } from '../../../schemas';
import type { AccessDecision } from '../access/access-control';

/**
 * Detection of unauthorised access, over the stream of calls a service answers (the same
 * decisions its audit records are made of). Each rule is a small piece of state keyed by address
 * or key; each raises a SecurityAlert at most once per episode, so a burst gives one alert:
 *
 * - failed-auth-burst: the throttle blocked an address or key id (AUTH_MAX_FAILURES failures);
 * - dead-key-used: a revoked or expired key presented with its right secret (once per key an hour);
 * - profile-read-spike: a key read more distinct profiles in the last hour than
 *   max(minProfiles, factor × its average of the hours before) (once per key an hour);
 * - bulk-pii-export: one answer carried raw personal data of at least bulkPiiRows profiles or rows;
 * - outside-hours: a role used outside its configured UTC hours (once per key a day);
 * - new-address: a key used from an address it was never used from, once it has a history.
 *
 * State is in memory: per service instance, and new-address forgets its history on restart.
 */
export interface DetectionSettings {
  readonly minProfiles: number;
  readonly spikeFactor: number;
  readonly bulkPiiRows: number;
  /** Role → [first hour, last hour] (UTC, inclusive); roles not listed have no hours. */
  readonly roleHours: Readonly<Record<string, readonly [number, number]>>;
}

export type AlertDraft = Omit<SecurityAlert, 'alertId' | 'service'>;

const HOUR = 3_600_000;

export class DetectionRules {
  private readonly onceUntil = new Map<string, number>();
  private readonly reads = new Map<string, { hour: number; profiles: Set<string>; history: number[] }>();
  private readonly addresses = new Map<string, Set<string>>();

  constructor(private readonly settings: DetectionSettings) {}

  /** The alerts this call raises (usually none). */
  observe(decision: AccessDecision): AlertDraft[] {
    const alerts: AlertDraft[] = [];
    const at = decision.at;
    const raise = (rule: string, severity: string, subject: string, detail: string, quietMs: number) => {
      const episode = `${rule} ${subject}`;
      if ((this.onceUntil.get(episode) ?? 0) > at) return;
      this.onceUntil.set(episode, at + quietMs);
      alerts.push({ at, rule, severity, subject, detail });
    };

    if (decision.blockStarted)
      raise(
        'failed-auth-burst',
        'high',
        decision.blockStarted,
        `failed authentications reached the limit; ${decision.blockStarted} is answered 429 for a while`,
        0,
      );
    if (decision.deadKey && decision.claimed)
      raise(
        'dead-key-used',
        'high',
        `key:${decision.claimed.id}`,
        `${decision.deadKey} key ${decision.claimed.id} (${decision.claimed.name}) used from ${decision.source}`,
        HOUR,
      );

    const principal = decision.principal;
    if (!principal || decision.outcome !== 'allowed') return alerts;
    const key = `key:${principal.keyId}`;

    const profiles = decision.details.profileIds;
    if (profiles.length > 0) {
      const hour = Math.floor(at / HOUR);
      let state = this.reads.get(principal.keyId);
      if (!state) {
        state = { hour, profiles: new Set(), history: [] };
        this.reads.set(principal.keyId, state);
      }
      if (state.hour !== hour) {
        state.history = [...state.history, state.profiles.size].slice(-24 * 7);
        state.hour = hour;
        state.profiles = new Set();
      }
      for (const id of profiles) state.profiles.add(id);
      const baseline = state.history.length ? state.history.reduce((a, b) => a + b, 0) / state.history.length : 0;
      const limit = Math.max(this.settings.minProfiles, this.settings.spikeFactor * baseline);
      if (state.profiles.size > limit)
        raise(
          'profile-read-spike',
          'medium',
          key,
          `key ${principal.keyId} (${principal.role}) read ${state.profiles.size} distinct profiles this hour; its baseline is ${baseline.toFixed(1)} an hour`,
          HOUR,
        );
    }
    const rows = Math.max(decision.details.rows ?? 0, profiles.length);
    if (decision.details.piiReturned && rows >= this.settings.bulkPiiRows)
      raise(
        'bulk-pii-export',
        'high',
        key,
        `key ${principal.keyId} (${principal.role}) received personal data of ${rows} rows in one answer (${decision.method} ${decision.route})`,
        0,
      );

    const hours = this.settings.roleHours[principal.role];
    if (hours) {
      const hour = new Date(at).getUTCHours();
      const inside = hours[0] <= hours[1] ? hour >= hours[0] && hour <= hours[1] : hour >= hours[0] || hour <= hours[1];
      if (!inside)
        raise(
          'outside-hours',
          'medium',
          key,
          `role ${principal.role} used at ${hour}:00 UTC, outside ${hours[0]}–${hours[1]}`,
          24 * HOUR,
        );
    }

    const seen = this.addresses.get(principal.keyId);
    if (!seen) this.addresses.set(principal.keyId, new Set([decision.source]));
    else if (!seen.has(decision.source)) {
      seen.add(decision.source);
      raise('new-address', 'low', key, `key ${principal.keyId} used from a new address ${decision.source}`, 0);
    }
    return alerts;
  }
}

export function withId(draft: AlertDraft, service: string): SecurityAlert {
  return { ...draft, alertId: randomUUID(), service };
}

/** `analyst=8-19,marketer=7-20` → role hours; undefined when malformed. */
export function parseRoleHours(text: string): Record<string, [number, number]> | undefined {
  const out: Record<string, [number, number]> = {};
  for (const part of text
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)) {
    const match = /^([a-z-]+)=(\d{1,2})-(\d{1,2})$/.exec(part);
    if (!match || Number(match[2]) > 23 || Number(match[3]) > 23) return undefined;
    out[match[1]!] = [Number(match[2]), Number(match[3])];
  }
  return out;
}
