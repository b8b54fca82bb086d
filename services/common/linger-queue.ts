export interface LingerQueueOptions<T> {
  /** How long an item waits for others to share its send. */
  readonly lingerMs: number;
  readonly maxBatch: number;
  /** Sends one batch; its items' promises settle with it. */
  readonly send: (items: T[]) => Promise<void>;
}

interface Pending<T> {
  readonly item: T;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

/**
 * Items pushed within `lingerMs` of each other share one send (a Kafka produce is a round trip
 * whatever it carries), and each push resolves once its batch was sent. Batches go one at a
 * time, in the order they were pushed.
 */
export class LingerQueue<T> {
  private queue: Pending<T>[] = [];
  private timer: NodeJS.Timeout | undefined;
  private sending: Promise<void> = Promise.resolve();

  constructor(private readonly options: LingerQueueOptions<T>) {}

  push(item: T): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      if (this.queue.length >= this.options.maxBatch) this.flush();
      else this.timer ??= setTimeout(() => this.flush(), this.options.lingerMs);
    });
  }

  /** Resolves once everything pushed so far was sent (or failed). */
  async drain(): Promise<void> {
    this.flush();
    await this.sending;
  }

  private flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.queue.length === 0) return;
    const batch = this.queue;
    this.queue = [];
    this.sending = this.sending.then(async () => {
      try {
        await this.options.send(batch.map((p) => p.item));
        for (const p of batch) p.resolve();
      } catch (error) {
        for (const p of batch) p.reject(error);
      }
    });
  }
}
