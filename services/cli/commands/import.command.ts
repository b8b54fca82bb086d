import { promises as fs } from 'node:fs';
import type { Command } from 'commander';
import pino from 'pino';
import { SingleBar, Presets } from 'cli-progress';
import { DirectProducer } from '../../common/events/direct-producer';
import { errorMessage } from '../../common/errors';
import { topics } from '../../common/kafka/topics';
import type { CliConfig } from '../config';
import { FileEncodingError } from '../import/file-text';
import { importFile, type ImportProgress, type ImportSummary } from '../import/import-file';
import {
  importSettings,
  MappingError,
  parseMapPairs,
  parseMappingFile,
  type MappingFile,
  type ValueType,
} from '../import/map-record';
import { encodingChoices, encodingNamed, type TextEncoding } from '../import/text-encodings';
import { registryUrl } from '../local/schema-registry';

/**
 * `kumiki import <file.csv|file.tsv|file.ndjson> [--map field=Column …] [--mapping map.json]`
 * `  [--encoding cp932] [--delimiter tab] [--locale ja-JP] [--time-zone Asia/Tokyo] [--currency JPY]`
 *
 * Produces straight to Kafka (Avro on kumiki.events.raw, through the same DirectProducer
 * direct producers use) rather than posting to the collector: an import is a batch job that
 * should not need the collector running or a write key, it must set its own channel
 * (`import`) and source (the file's name, or --source) instead of a write key's, and a
 * direct idempotent acks=all producer is several times faster for multi-GB files. Events are
 * checked by the collector's own validation and normalisation steps, so they are exactly
 * what the collector would accept.
 */
export interface ImportCommandOptions {
  readonly map: readonly string[];
  readonly mapping?: string;
  readonly type?: string;
  readonly event?: string;
  readonly source?: string;
  readonly format?: string;
  readonly encoding?: string;
  readonly delimiter?: string;
  readonly locale?: string;
  readonly timeZone?: string;
  readonly currency?: string;
  readonly topic?: string;
  readonly dryRun: boolean;
  readonly progress: boolean;
  readonly json: boolean;
}

export async function importCommand(config: CliConfig, file: string, options: ImportCommandOptions): Promise<number> {
  let mapping: Map<string, string> | undefined;
  let mappingFile: MappingFile | undefined;
  let types: Map<string, ValueType> | undefined;
  let settings: { timeZone?: string; currency?: string };
  let encoding: TextEncoding | undefined;
  let delimiter: string | undefined;
  let size: number;
  try {
    if (options.type !== undefined && options.type !== 'identify' && options.type !== 'track')
      throw new MappingError(`--type must be identify or track`);
    if (options.format !== undefined && !['csv', 'tsv', 'ndjson'].includes(options.format))
      throw new MappingError(`--format must be csv, tsv or ndjson`);
    if (options.encoding !== undefined) {
      encoding = encodingNamed(options.encoding);
      if (encoding === undefined)
        throw new MappingError(`--encoding ${options.encoding}: kumiki reads ${encodingChoices}`);
    }
    delimiter = options.format === 'tsv' ? '\t' : undefined;
    if (options.delimiter !== undefined) delimiter = delimiterOption(options.delimiter);
    if (options.mapping) {
      mappingFile = parseMappingFile(await fs.readFile(options.mapping, 'utf8'), options.mapping);
      mapping = mappingFile.mapping;
      types = mappingFile.types;
    }
    if (options.map.length > 0) mapping = new Map([...(mapping ?? []), ...parseMapPairs(options.map)]);
    settings = importSettings({
      locale: options.locale ?? mappingFile?.locale,
      timeZone: options.timeZone ?? mappingFile?.timeZone,
      currency: options.currency ?? mappingFile?.currency,
    });
    size = (await fs.stat(file)).size;
  } catch (error) {
    process.stderr.write(`kumiki import: ${errorMessage(error)}\n`);
    return 2;
  }

  const producer = options.dryRun
    ? undefined
    : await DirectProducer.connect({
        brokers: config.external.kafkaBrokers ?? [`127.0.0.1:${config.ports.kafka}`],
        registryUrl: config.external.registryUrl ?? registryUrl(config.ports.registry),
        format: 'avro',
        topic: options.topic ?? topics.eventsRaw.name,
        clientId: 'kumiki-import',
        // Failures reach the user as one message below; the client's own log lines would be noise here.
        logger: pino({ level: 'silent' }),
      });
  const bar =
    options.progress && process.stderr.isTTY
      ? new SingleBar(
          {
            stream: process.stderr,
            format: 'importing {bar} {percentage}% | ETA {eta_formatted} | {sent} events sent',
            hideCursor: true,
          },
          Presets.shades_classic,
        )
      : undefined;
  let sentSoFar = 0;
  const progress: ImportProgress | undefined = bar && {
    start: (total) => bar.start(total, 0, { sent: 0 }),
    advance: (bytes) => bar.increment(bytes, { sent: sentSoFar }),
  };
  let summary: ImportSummary;
  try {
    summary = await importFile(
      {
        file,
        ...(options.format ? { format: options.format === 'ndjson' ? 'ndjson' : 'csv' } : {}),
        ...(encoding ? { encoding } : {}),
        ...(delimiter ? { delimiter } : {}),
        ...(mapping ? { mapping } : {}),
        ...(types ? { types } : {}),
        ...settings,
        ...(options.type ? { type: options.type as 'identify' | 'track' } : {}),
        ...(options.event ? { event: options.event } : {}),
        ...(options.source ? { source: options.source } : {}),
      },
      async (events) => {
        await producer?.send(events);
        sentSoFar += events.length;
      },
      progress,
      size,
    );
  } catch (error) {
    bar?.stop();
    if (error instanceof FileEncodingError) {
      process.stderr.write(`kumiki import: ${error.message}\nNothing was sent.\n`);
      return 1;
    }
    process.stderr.write(
      `kumiki import: stopped after sending ${sentSoFar} events: ${errorMessage(error)}\n` +
        'Running the same import again is safe: event ids are derived from the file and line, so nothing is duplicated.\n',
    );
    return 1;
  } finally {
    await producer?.close().catch(() => undefined);
  }
  bar?.stop();
  process.stdout.write(options.json ? `${JSON.stringify(summary, null, 2)}\n` : formatSummary(summary, options.dryRun));
  return summary.rejected > 0 ? 1 : 0;
}

export function formatSummary(summary: ImportSummary, dryRun: boolean): string {
  const types = Object.entries(summary.byType)
    .map(([type, count]) => `${type} ${count}`)
    .join(', ');
  const lines = [
    `${dryRun ? 'checked' : 'imported'} ${summary.file} (${summary.encoding}; sha256 ${summary.fileDigest.slice(0, 12)})`,
    `  read ${summary.read} records, ${dryRun ? 'valid' : 'sent'} ${summary.sent} events${types ? ` (${types})` : ''}, rejected ${summary.rejected}`,
  ];
  if (summary.rejected > 0) {
    lines.push('  rejected lines:');
    for (const r of summary.rejects) lines.push(`    line ${r.line}: ${r.field ? `${r.field}: ` : ''}${r.reason}`);
    if (summary.rejectsTruncated)
      lines.push(`    … and ${summary.rejected - summary.rejects.length} more (use --json for the listed ones)`);
  }
  return `${lines.join('\n')}\n`;
}

/** Adds `kumiki import` to the CLI (main.ts calls this once). */
export function registerImportCommand(
  program: Command,
  config: () => CliConfig,
  setExitCode: (code: number) => void,
): void {
  program
    .command('import')
    .description('import a CSV, TSV or NDJSON file (store purchases, CRM exports) as identify / Order Completed events')
    .argument(
      '<file>',
      'a .csv or .tsv file with a header row, or .ndjson / .jsonl with one JSON object per line; UTF-8, UTF-16 or CP932',
    )
    .option(
      '--map <field=Column>',
      'map a kumiki field to a column, e.g. --map email=Email --map order_id=OrderNo (repeatable)',
      collect,
      [],
    )
    .option('--mapping <file.json>', 'a JSON file {"field": "Column", …}; --map pairs override it')
    .option(
      '--type <identify|track>',
      'event type of every record (default: track when order_id is mapped, else identify)',
    )
    .option('--event <name>', 'event name of track records', 'Order Completed')
    .option('--source <name>', "the events' source (default: the file's name)")
    .option('--format <csv|tsv|ndjson>', 'file format (default: from the file extension)')
    .option('--encoding <name>', `the file's encoding: ${encodingChoices} (default: detected)`)
    .option('--delimiter <char>', 'field delimiter: one character, or tab (default: tab for .tsv, else comma)')
    .option('--locale <ja-JP>', 'read dates in Asia/Tokyo and amounts in JPY unless said otherwise')
    .option('--time-zone <zone>', 'IANA time zone of dates written without one, e.g. Asia/Tokyo (default: UTC)')
    .option('--currency <code>', 'ISO 4217 currency of amounts written without one, e.g. JPY')
    .option('--topic <topic>', 'topic to produce to', topics.eventsRaw.name)
    .option('--dry-run', 'check and count, send nothing', false)
    .option('--no-progress', 'no progress bar')
    .option('--json', 'print the summary as JSON', false)
    .action(async (file: string, options: ImportCommandOptions) => {
      setExitCode(await importCommand(config(), file, options));
    });
}

function delimiterOption(value: string): string {
  if (value === 'tab' || value === '\\t') return '\t';
  if ([...value].length !== 1 || value === '"' || value === '\n' || value === '\r')
    throw new MappingError(`--delimiter ${value}: one character other than a quote or line break, or tab`);
  return value;
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}
