import type { IncomingMessage } from '../common/kafka/messages';

export interface ChunkWriterDeps<P, W> {
  /** Records per write; a longer run of records is written in chunks of this size. */
  readonly batchSize: number;
  /** Decodes one chunk into rows (nothing written). */
  readonly prepare: (messages: readonly IncomingMessage[]) => Promise<P>;
  /** Writes one prepared chunk and resolves once its rows are durable. */
  readonly store: (prepared: P) => Promise<W>;
  /** Runs a task with the consumer's retries (retriable failures, up to a deadline). */
  readonly retrying: <T>(task: () => Promise<T>) => Promise<T>;
  /** A chunk could not be stored within the retry deadline (called once). */
  readonly onStoreFailed: (error: unknown) => void;
}

/**
 * Writes records in chunks, pipelined: chunk n+1 is decoded while chunk n is being inserted;
 * inserts stay in order, one at a time. A store may outlast the call that started it, so
 * ClickHouse inserts one batch's last chunk while the next batch is decoded (a handler waiting
 * for its last insert left ClickHouse idle at every fetch).
 *
 * Two states: `writing`, and `failed` for good — a chunk could not be stored within the retry
 * deadline, or the consumer stopped. Records after that chunk may already have been handed
 * over, so nothing may be written (hence committed) from then on: a restart reads everything
 * uncommitted again (idempotent writes).
 */
export class ChunkWriter<P, W> {
  private state: 'writing' | 'failed' = 'writing';
  /** The store under way. Settles, never rejects: a failed store is handled once, by storeFailed. */
  private lastStore: Promise<unknown> = Promise.resolve();

  constructor(private readonly deps: ChunkWriterDeps<P, W>) {}

  get failed(): boolean {
    return this.state === 'failed';
  }

  /** Stops writing for good; true if it was writing until now. */
  fail(): boolean {
    if (this.state === 'failed') return false;
    this.state = 'failed';
    return true;
  }

  /**
   * Writes `messages` in chunks. Resolves once the last chunk's store has started, with a
   * promise per chunk that resolves once it is durable; null if `keepGoing` said stop (nothing
   * more written).
   */
  async write(
    messages: readonly IncomingMessage[],
    keepGoing: () => Promise<boolean> = async () => true,
  ): Promise<Promise<W>[] | null> {
    const { deps } = this;
    const stores: Promise<W>[] = [];
    for (let i = 0; i < messages.length; i += deps.batchSize) {
      const chunk = messages.slice(i, i + deps.batchSize);
      const prepared = await deps.retrying(() => deps.prepare(chunk));
      await this.lastStore;
      if (this.failed) throw new Error('an earlier chunk could not be stored; the consumer has stopped');
      const stored = deps.retrying(() => deps.store(prepared));
      this.lastStore = stored.catch((error: unknown) => {
        if (this.fail()) deps.onStoreFailed(error);
      });
      stores.push(stored);
      if (!(await keepGoing())) return null;
    }
    return stores;
  }
}
