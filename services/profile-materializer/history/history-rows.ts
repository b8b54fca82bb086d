import type { DeadLetter, SegmentChange } from '../../../schemas';
import { dateTime64Text } from '../../common/clickhouse/datetime64';

/** Where a record came from: the key of its history row (migration 0017). */
export interface RecordSource {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
}

/** A dead_letters_store row. Bytes are kept as base64: rows travel as JSON text. */
export function deadLetterRow(source: RecordSource, letter: DeadLetter): Record<string, unknown> {
  return {
    source_topic: source.topic,
    source_partition: source.partition,
    source_offset: source.offset,
    failed_at: dateTime64Text(letter.failedAt),
    service: letter.service,
    stage: letter.stage,
    code: letter.code,
    reason: letter.reason,
    error: letter.error,
    message_id: letter.messageId ?? '',
    original_topic: letter.originalTopic ?? '',
    original_partition: letter.originalPartition ?? -1,
    original_offset: letter.originalOffset ?? -1,
    original_key: letter.originalKey ? letter.originalKey.toString('base64') : '',
    original_value: letter.originalValue.toString('base64'),
    attempt: letter.attempt,
  };
}

/** A segment_changes_store row. */
export function segmentChangeRow(source: RecordSource, change: SegmentChange): Record<string, unknown> {
  return {
    source_topic: source.topic,
    source_partition: source.partition,
    source_offset: source.offset,
    segment_id: change.segmentId,
    segment_name: change.segmentName,
    profile_id: change.profileId,
    change: change.change,
    at: dateTime64Text(change.at),
    evaluation: change.evaluation,
  };
}
