import type { ClickHouse } from '../../common/clickhouse/client-factory';
import type { Component } from '../../common/lifecycle';
import type { Logger } from '../../common/logger';

/**
 * Retention in ClickHouse, applied by ClickHouse itself (table TTL, removed in background merges),
 * next to the topics' retention on Kafka (docs/privacy.md, "Retention"):
 *
 * - EVENTS_RETENTION_DAYS: events older than this (by event time) leave every table of events:
 *   events_store, profile_activity_store (per day), order_events_store (purchases and refunds by
 *   order) and the anonymous unprofiled_events_store.
 *   A profile keeps what it learnt from them (traits, consent, first and last seen).
 * - PROFILE_RETENTION_DAYS: a profile not seen for this long leaves profiles_store and
 *   profile_facts_store (by its last event), so the profiles view, segments and the read API no
 *   longer show it. Its identifiers, trait and consent statements stay, and a returning person
 *   finds them; to remove a person entirely, erase them (`kumiki privacy erase`).
 *
 * 0 keeps rows forever. Applied at every start, and only when the TTL differs from the one the
 * table has: changing a TTL makes ClickHouse rewrite the table's parts.
 */
export interface RetentionSettings {
  readonly eventsDays: number;
  readonly profilesDays: number;
}

interface TableTtl {
  readonly table: string;
  /** What the TTL counts from, as ClickHouse prints it back (engine_full). */
  readonly from: string;
  readonly days: number;
}

export function retentionTtls(settings: RetentionSettings): TableTtl[] {
  return [
    { table: 'events_store', from: 'toDateTime(timestamp)', days: settings.eventsDays },
    { table: 'profile_activity_store', from: 'day', days: settings.eventsDays },
    { table: 'order_events_store', from: 'toDateTime(timestamp)', days: settings.eventsDays },
    { table: 'unprofiled_events_store', from: 'day', days: settings.eventsDays },
    { table: 'profiles_store', from: 'toDateTime(last_seen)', days: settings.profilesDays },
    { table: 'profile_facts_store', from: 'toDateTime(last_seen)', days: settings.profilesDays },
  ];
}

/** The table TTL expression ClickHouse reports for a table (engine_full), or undefined. */
export function tableTtlOf(engineFull: string): string | undefined {
  return / TTL (.+?)(?: SETTINGS |$)/.exec(engineFull)?.[1];
}

/** Sets or removes each table's TTL where it differs; returns the tables changed. */
export async function applyRetention(ch: ClickHouse, settings: RetentionSettings): Promise<string[]> {
  const ttls = retentionTtls(settings);
  const rows = await ch.query<{ name: string; engine_full: string }>(
    'SELECT name, engine_full FROM system.tables WHERE database = currentDatabase() AND name IN {names:Array(String)}',
    { names: ttls.map((t) => t.table) },
  );
  const current = new Map(rows.map((row) => [row.name, tableTtlOf(row.engine_full)]));
  const changed: string[] = [];
  for (const { table, from, days } of ttls) {
    const wanted = days > 0 ? `${from} + toIntervalDay(${Math.floor(days)})` : undefined;
    const now = current.get(table);
    if (now === wanted) continue;
    if (wanted) await ch.command(`ALTER TABLE ${table} MODIFY TTL ${wanted}`);
    else await ch.command(`ALTER TABLE ${table} REMOVE TTL`);
    changed.push(table);
  }
  return changed;
}

/** Applies the retention settings at start (after the migrations). */
export function createRetentionApplier(options: {
  readonly clickhouse: () => ClickHouse;
  readonly settings: RetentionSettings;
  readonly logger: Logger;
}): Component {
  return {
    name: 'retention',
    async start() {
      const changed = await applyRetention(options.clickhouse(), options.settings);
      if (changed.length > 0)
        options.logger.info({ ...options.settings, tables: changed }, 'ClickHouse retention (table TTL) changed');
    },
    stop: async () => undefined,
    isHealthy: () => true,
    isReady: () => true,
  };
}
