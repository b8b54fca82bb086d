import type { ClickHouse } from '../../common/clickhouse/client-factory';
import type { Exclusive } from '../../common/exclusive';
import type { EventProducer, KafkaClient } from '../../common/kafka/client';
import type { Logger } from '../../common/logger';
import type { PrivacyKey } from '../../common/privacy/privacy-key';
import type { DestinationReceived } from './destination-recipients';
import type { ErasedPeople } from './erased-people';
import type { PrivacyRequestRepository } from './privacy-request.repository';
import type { PrivacyMetrics } from './privacy.metrics';

/** The topics a privacy request touches or reads, under their configured names. */
export interface PrivacyTopics {
  readonly privacy: string;
  readonly updates: string;
  readonly stitched: string;
  readonly changes: string;
  readonly segments: string;
  readonly deadLetters: string;
  readonly raw: string;
  readonly json: string;
  readonly graph: string;
}

export interface PrivacyExecutorDeps {
  readonly clickhouse: () => ClickHouse;
  readonly repository: PrivacyRequestRepository;
  readonly key: PrivacyKey;
  readonly erased: ErasedPeople;
  readonly kafka: Pick<KafkaClient, 'admin' | 'readToEnd'>;
  readonly producer: Pick<EventProducer, 'send'>;
  readonly encode: (topic: string, value: unknown) => Buffer;
  readonly topics: PrivacyTopics;
  /** The profile-materializer's consumer group: an erase waits until it committed past the erasure. */
  readonly materializerGroupId: string;
  /** Exits the profiles from every segment with reason `erased`, after `hide` (segment evaluation). */
  readonly exitSegments: (profileIds: readonly string[], hide: () => Promise<void>) => Promise<number>;
  /** Marks profiles deleted in profiles_store (hidden from views and segments). */
  readonly hideProfiles: (profileIds: readonly string[]) => Promise<void>;
  /** Forgets the identifiers the write path remembers having written. */
  readonly forgetIdentities: (identifiers: readonly { type: string; value: string }[]) => void;
  /** Runs a task while no ProfileUpdate is being published (the publish lock). */
  readonly exclusive: Exclusive;
  /** Resolves once the background writers running now (RFM snapshot) are done. */
  readonly settleWriters: () => Promise<void>;
  /** The destinations the activator's ledgers say received these profiles (the report names them); none when unset. */
  readonly recipients?: (profileIds: readonly string[]) => Promise<DestinationReceived[]>;
  readonly logger: Logger;
  readonly metrics?: PrivacyMetrics;
  readonly now?: () => number;
  /** Fault injection for the crash test: SIGKILL this process right after this step's checkpoint. */
  readonly killAfterStep?: string;
}
