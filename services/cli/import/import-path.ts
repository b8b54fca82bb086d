import type { Event, EventType } from '../../../schemas';
import { normaliseEvent } from '../../common/events/normalise-event.step';
import type { SourceInfo } from '../../common/events/sources';
import { validateMessage } from '../../common/events/validate-message.step';
import { pipeline, step, type Pipeline } from '../../common/pipeline';
import { dlq, ok } from '../../common/step-result';
import { mapRecord, type MapOptions, type Mapping } from './map-record';
import type { FileRecord } from './read-records';

export interface ImportPathOptions extends MapOptions {
  readonly mapping?: Mapping | undefined;
  /** The file's messageId for a line, unless a column is mapped to messageId. */
  readonly messageIdOf: (line: number) => string;
  readonly source: SourceInfo;
  readonly now: () => number;
}

/**
 * A file record's path to an Event: read-record → map-record → validate-message →
 * normalise-event. The last two are the collector's own checks (common/events), so an imported
 * event is exactly what the collector would have accepted. Every step is synchronous.
 */
export function importPath(options: ImportPathOptions): Pipeline<FileRecord, Event> {
  return pipeline<FileRecord>()
    .pipe(
      step('read-record', (record: FileRecord) =>
        'error' in record ? dlq(`line ${record.error}`, 'KUMIKI_INVALID_EVENT') : ok(record),
      ),
    )
    .pipe(
      step('map-record', (record: { line: number; values: Parameters<typeof mapRecord>[0] }) => {
        const mapped = mapRecord(record.values, options.mapping, options);
        if (!mapped.ok) return dlq(mapped.reason, 'KUMIKI_INVALID_EVENT', { field: mapped.field });
        const messageId = mapped.message.messageId ?? options.messageIdOf(record.line);
        return ok({ message: { ...mapped.message, messageId }, type: mapped.type });
      }),
    )
    .pipe(
      step('validate-message', ({ message, type }: { message: Record<string, unknown>; type: EventType }) =>
        validateMessage(message, { type }),
      ),
    )
    .pipe(
      step('normalise-event', (message) =>
        normaliseEvent(message, { receivedAt: options.now(), batchSentAt: undefined, source: options.source }),
      ),
    );
}
