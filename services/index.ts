/**
 * kumiki as a library (`require('kumiki')`, package.json `main`): what a program producing events
 * straight to Kafka uses (docs/direct-producers.md). The services and the CLI are programs,
 * started through `kumiki` (bin/kumiki.js) or their own main.ts.
 */
export {
  DirectProducer,
  toEvent,
  type DirectEventInput,
  type DirectProducerOptions,
} from './common/events/direct-producer';
export type { Event, EventType } from '../schemas';
