/**
 * The records kumiki's Kafka face hands over and takes (see client.ts). Kept apart from the
 * client so the modules the client is built from can name them without importing it.
 */
export interface OutgoingMessage {
  readonly key: string | Buffer | null;
  readonly value: Buffer | string | null;
  readonly headers?: Readonly<Record<string, string | Buffer>>;
  readonly partition?: number;
}

export interface IncomingMessage {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  readonly headers: Readonly<Record<string, Buffer | undefined>>;
  readonly timestamp: string;
}

export interface MessageBatch {
  readonly topic: string;
  readonly partition: number;
  readonly messages: readonly IncomingMessage[];
  readonly highWatermark: string;
  /**
   * Offset of the last record fetched for this batch, transaction markers and aborted records
   * included (≥ the last message's). Committing past it skips nothing a read_committed consumer
   * would see, and leaves no lag of one marker behind on transactional topics.
   */
  readonly lastOffset: string;
}
