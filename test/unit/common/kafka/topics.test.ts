import { OUTPUT_MESSAGE_BYTES, allTopics, topicConfigEntries, topics } from '../../../../services/common/kafka/topics';

describe('topic settings', () => {
  it('give the stitched, dead-letter and profile-update topics room above the inputs, and every topic its cleanup', () => {
    expect(topicConfigEntries(topics.eventsStitched)).toEqual([
      { name: 'cleanup.policy', value: 'delete' },
      { name: 'retention.ms', value: String(7 * 24 * 60 * 60 * 1000) },
      { name: 'max.message.bytes', value: String(OUTPUT_MESSAGE_BYTES) },
    ]);
    // Compacted topics holding people get a bound on compaction: an erasure report can name the date.
    expect(topicConfigEntries(topics.identityGraph)).toEqual([
      { name: 'cleanup.policy', value: 'compact' },
      { name: 'max.compaction.lag.ms', value: String(7 * 24 * 60 * 60 * 1000) },
    ]);
    const raised = allTopics
      .filter((spec) => topicConfigEntries(spec).some((entry) => entry.name === 'max.message.bytes'))
      .map((spec) => spec.name);
    expect(raised).toEqual([
      topics.eventsStitched.name,
      topics.profileUpdates.name,
      topics.deadLetters.name,
      // A destination's dead letter carries the ProfileUpdate it could not deliver.
      topics.destinationDeadLetters.name,
    ]);
    // The inputs keep the broker's default (1 MiB); what is written from them must fit more.
    expect(OUTPUT_MESSAGE_BYTES).toBeGreaterThan(1024 * 1024 + 64 * 1024);
  });
});
