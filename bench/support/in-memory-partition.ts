import type { BatchConsumer, IncomingMessage } from '../../services/common/kafka/client';

/**
 * One partition held in memory, handed over as a broker would while the consumer is behind:
 * batches of up to `maxBytes` of record values, in order. `committed(n)` resolves once offsets
 * up to n were committed; `started` is when the first batch was handed over.
 */
export function inMemoryPartition(
  topic: string,
  messages: readonly IncomingMessage[],
  maxBytes: number,
): BatchConsumer & {
  committed(offset: number): Promise<void>;
  started(): { at: bigint; cpu: NodeJS.CpuUsage } | undefined;
} {
  let committedOffset = 0;
  let started: { at: bigint; cpu: NodeJS.CpuUsage } | undefined;
  let running = true;
  const waiters: { offset: number; resolve: () => void }[] = [];
  return {
    connect: async () => undefined,
    async run(handler) {
      started = { at: process.hrtime.bigint(), cpu: process.cpuUsage() };
      for (let first = 0; first < messages.length && running; ) {
        let end = first;
        for (
          let bytes = 0;
          end < messages.length && (end === first || bytes + messages[end]!.value!.length <= maxBytes);
          end++
        )
          bytes += messages[end]!.value!.length;
        const context = {
          resolveOffset: () => undefined,
          commit: async () => undefined,
          heartbeat: async () => undefined,
          isRunning: () => running,
        };
        await handler(
          {
            topic,
            partition: 0,
            messages: messages.slice(first, end),
            highWatermark: String(messages.length),
            lastOffset: String(end - 1),
          },
          context,
        );
        first = end;
      }
    },
    async commitOffsets(offsets) {
      committedOffset = Math.max(committedOffset, ...offsets.map((o) => Number(o.offset)));
      for (const waiter of waiters.filter((w) => w.offset <= committedOffset)) waiter.resolve();
    },
    committed: (offset) =>
      offset <= committedOffset ? Promise.resolve() : new Promise((resolve) => void waiters.push({ offset, resolve })),
    disconnect: async () => void (running = false),
    started: () => started,
  };
}
