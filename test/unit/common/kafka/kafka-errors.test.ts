import { KafkaJSConnectionError, KafkaJSNonRetriableError, KafkaJSProtocolError } from 'kafkajs';
import { DependencyUnavailableError, isRetriable } from '../../../../services/common/errors';
import { kafkaFailure } from '../../../../services/common/kafka/kafka-errors';

describe('kafkaFailure', () => {
  it('calls a broker that could not be reached unavailable, also when kafkajs wrapped it as non-retriable', () => {
    // What a producer's send throws when the broker stays away past its retries (seen while a
    // broker restarted under a collector request: the request was answered 500, not 503).
    const refused = new KafkaJSConnectionError('Connection error: connect ECONNREFUSED 127.0.0.1:9092');
    const wrapped = Object.assign(new KafkaJSNonRetriableError(refused), { cause: refused });
    const failure = kafkaFailure('send', wrapped);
    expect(failure).toBeInstanceOf(DependencyUnavailableError);
    expect(isRetriable(failure)).toBe(true);
    expect((failure as Error).message).toBe(
      'Kafka: cannot send: Connection error: connect ECONNREFUSED 127.0.0.1:9092',
    );
  });

  it('passes a request the broker refuses for good through as it is', () => {
    const refused = Object.assign(new KafkaJSProtocolError('The request was invalid'), { retriable: false });
    const wrapped = Object.assign(new KafkaJSNonRetriableError(refused), { cause: refused });
    expect(kafkaFailure('send', wrapped)).toBe(wrapped);
    expect(kafkaFailure('send', refused)).toBe(refused);
  });
});
