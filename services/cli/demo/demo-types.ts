import type { JapaneseStoreRow } from './demo-japanese-stores';

/** The demo population's shape (generateDemoPopulation in demo-population.ts makes it). */
export interface DemoOptions {
  readonly people: number;
  readonly days: number;
  readonly seed: number;
  /** Epoch ms the population is generated for; every event is before it. */
  readonly now: number;
  /** Share of HTTP messages that are broken (default 0.05). */
  readonly badRate?: number;
}

/** A Segment message as an SDK posts it (JSON). */
export type SegmentMessage = Record<string, unknown> & { messageId: string; type: string };

/** One line of the store POS export (`kumiki import`). */
export interface StoreRow {
  readonly messageId: string;
  readonly anonymousId: string;
  readonly loyalty_id: string;
  readonly email: string;
  readonly order_id: string;
  readonly revenue: string;
  readonly currency: string;
  readonly timestamp: string;
  readonly 'properties.store': string;
}

export interface TruthOrder {
  readonly orderId: string;
  readonly person: string;
  /** An identifier (`type:value`, normalised) of the order's event: its profile is the order's. */
  readonly identifier: string;
  readonly at: number;
  readonly cents: number;
  /** Refunded cents (partial), 'full' (refund without an amount), or null. */
  readonly refund: number | 'full' | null;
  readonly channel: 'online' | 'store';
  /** The currency the order was paid in (cents are reporting cents at the demo's rates). */
  readonly currency: 'USD' | 'JPY';
}

export interface BadMessage {
  readonly messageId: string;
  readonly code: string;
}

export interface DemoPopulation {
  readonly options: Required<DemoOptions>;
  /** messageIds of every demo event start with this. */
  readonly prefix: string;
  /** HTTP messages, in sending order, ready to be cut into /v1/batch requests (bad ones and retries included). */
  readonly messages: SegmentMessage[];
  readonly storeRows: StoreRow[];
  /** The Japanese stores' purchases (`japaneseStoreCsv`). */
  readonly japaneseStoreRows: JapaneseStoreRow[];
  readonly truth: {
    readonly people: number;
    /** Expected profiles: connected components of each person's identifiers. */
    readonly profiles: number;
    /** Person → its components, each a list of identifiers (`type:value`). */
    readonly components: ReadonlyMap<string, string[][]>;
    /** Distinct messageIds that must end up in `events` (HTTP and store). */
    readonly goodMessageIds: ReadonlySet<string>;
    readonly bad: readonly BadMessage[];
    readonly orders: readonly TruthOrder[];
    /** The messageIds sent twice. */
    readonly duplicates: number;
  };
}

export const DAY_MS = 86_400_000;
