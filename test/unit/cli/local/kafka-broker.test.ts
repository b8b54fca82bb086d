import { newClusterId, renderServerProperties } from '../../../../services/cli/local/kafka-broker';

function parse(text: string): Map<string, string> {
  const entries = text
    .split('\n')
    .filter((line) => line && !line.startsWith('#'))
    .map((line) => {
      const at = line.indexOf('=');
      return [line.slice(0, at), line.slice(at + 1)] as [string, string];
    });
  return new Map(entries);
}

describe('renderServerProperties', () => {
  const props = parse(renderServerProperties({ port: 19092, controllerPort: 19093, dataDir: '/state/kafka/data' }));

  it('runs broker and controller in one node on the configured ports', () => {
    expect(props.get('process.roles')).toBe('broker,controller');
    expect(props.get('controller.quorum.voters')).toBe('1@127.0.0.1:19093');
    expect(props.get('listeners')).toBe('PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093');
    expect(props.get('advertised.listeners')).toBe('PLAINTEXT://127.0.0.1:19092');
    expect(props.get('log.dirs')).toBe('/state/kafka/data');
  });

  it('sizes every internal topic for a single replica, so transactions and groups work', () => {
    expect(props.get('offsets.topic.replication.factor')).toBe('1');
    expect(props.get('transaction.state.log.replication.factor')).toBe('1');
    expect(props.get('transaction.state.log.min.isr')).toBe('1');
    expect(props.get('group.initial.rebalance.delay.ms')).toBe('0');
  });

  it('never creates topics on first use', () => {
    expect(props.get('auto.create.topics.enable')).toBe('false');
  });
});

describe('newClusterId', () => {
  it('is 16 random bytes in unpadded base64url that does not look like a flag', () => {
    const ids = Array.from({ length: 200 }, newClusterId);
    for (const id of ids) {
      expect(id).toMatch(/^[A-Za-z0-9_][A-Za-z0-9_-]{21}$/);
      expect(Buffer.from(id, 'base64url')).toHaveLength(16);
    }
    expect(new Set(ids).size).toBe(ids.length);
  });
});
