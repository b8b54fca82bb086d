import type * as avro from 'avsc';
import type { Predictions } from '../../schemas';
import type { Exclusive } from '../common/exclusive';
import type { EventProducer } from '../common/kafka/client';
import type { Logger } from '../common/logger';
import type { ResultHandler } from '../common/result-handler';
import type { MaterializerMetrics } from './materializer.metrics';
import type { ProfileRepository } from './profile.repository';
import type { ErasedPeople } from './privacy/erased-people';
import type { ReplayWindow } from './replay-window';
import type { RfmRow } from './rfm/rfm';

/** What materializing needs: ClickHouse (the repository), the codec, Kafka, the one result handler. */
export interface MaterializeDeps {
  readonly repository: ProfileRepository;
  /** At once when the writer schema is known, else a promise that fetches it (AvroCodec.decodeNowOrLater). */
  readonly decode: <T>(buffer: Buffer, reader: avro.Type) => { value: T } | Promise<{ value: T }>;
  readonly encode: (topic: string, value: unknown) => Buffer;
  readonly readers: { readonly stitched: avro.Type; readonly change: avro.Type };
  /**
   * The RFM rows ProfileUpdates carry: the latest snapshot's, as the rfm view shows them (a
   * primary-key read, however many purchasers there are; see docs/rfm.md).
   */
  readonly readRfm: (profileIds: readonly string[]) => Promise<Map<string, RfmRow>>;
  /** The predictions ProfileUpdates carry: the latest model version's (a primary-key read; predictions/). */
  readonly readPredictions?: (profileIds: readonly string[]) => Promise<Map<string, Predictions>>;
  readonly producer: Pick<EventProducer, 'send'>;
  /** The one result handler: dead letters and drops of the chunks (storeChunk). */
  readonly results: Pick<ResultHandler, 'rejected' | 'dropped'>;
  readonly topics: { readonly stitched: string; readonly changes: string; readonly updates: string };
  readonly logger: Logger;
  readonly metrics?: MaterializerMetrics;
  /** With `metrics`: which partitions may be replaying, whose events are counted as dedup hits (see ReplayWindow). */
  readonly replays?: ReplayWindow;
  readonly now?: () => number;
  /** Called once the profile updates of chunks with orders, refunds or merges are out (RFM snapshot refresh). */
  readonly rfmInputsChanged?: () => void;
  /** Runs publishes one at a time (see publishProfileUpdates); shared by every path that publishes ProfileUpdates. */
  readonly exclusive?: Exclusive;
  /** People privacy requests erased: their replayed records are dropped, and profiles being erased are not published. */
  readonly erased?: ErasedPeople;
  /** Consent purposes an event's person must have granted for it to join their profile (privacy/profiling-consent.ts). */
  readonly profilingPurposes?: readonly string[];
}
