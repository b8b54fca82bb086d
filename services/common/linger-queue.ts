export interface LingerQueueOptions<T> {
  /** How long an item waits for others to share its send. */
  readonly lingerMs: number;
  readonly maxBatch: number;
  /** Sends one batch; its items' promises settle with it. */
  readonly send: (items: T[]) => Promise<void>;
}

interface Batch<T> {
  readonly items: T[];
  /** Settles when the batch was sent; every push into it returns this one promise. */
  readonly sent: Promise<void>;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

/**
 * Items pushed within `lingerMs` of each other share one send (a Kafka produce is a round trip
 * whatever it carries), and each push resolves once its batch was sent. Batches go one at a
 * time, in the order they were pushed.
 */
export class LingerQueue<T> {
  private batch: Batch<T> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private sending: Promise<void> = Promise.resolve();

  constructor(private readonly options: LingerQueueOptions<T>) {}

  push(item: T): Promise<void> {
    const batch = (this.batch ??= newBatch());
    batch.items.push(item);
    if (batch.items.length >= this.options.maxBatch) this.flush();
    else this.timer ??= setTimeout(() => this.flush(), this.options.lingerMs);
    return batch.sent;
  }

  /** Resolves once everything pushed so far was sent (or failed). */
  async drain(): Promise<void> {
    this.flush();
    await this.sending;
  }

  private flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const batch = this.batch;
    if (!batch) return;
    this.batch = undefined;
    this.sending = this.sending.then(async () => {
      try {
        await this.options.send(batch.items);
        batch.resolve();
      } catch (error) {
        batch.reject(error);
      }
    });
  }
}

function newBatch<T>(): Batch<T> {
  let resolve: () => void = () => undefined;
  let reject: (error: unknown) => void = () => undefined;
  const sent = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { items: [], sent, resolve, reject };
}
