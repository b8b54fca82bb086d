import { coalescedEndOffsets } from '../../../../services/common/kafka/admin';

/** A read that answers when told to, recording the topics of each request. */
function controlledRead() {
  const requests: string[][] = [];
  const pending: Array<{ topics: readonly string[]; answer: () => void; fail: (error: Error) => void }> = [];
  const read = (topics: readonly string[]) =>
    new Promise<Map<string, Map<number, string>>>((resolve, reject) => {
      requests.push([...topics]);
      pending.push({
        topics,
        answer: () => resolve(new Map(topics.map((t) => [t, new Map([[0, `${t}@${requests.length}`]])]))),
        fail: reject,
      });
    });
  const next = async () => {
    for (let i = 0; i < 20 && pending.length === 0; i++) await new Promise((resolve) => setImmediate(resolve));
    const request = pending.shift();
    if (!request) throw new Error('no read was made');
    return request;
  };
  return { read, requests, next };
}

describe('end offsets read for several topics at once', () => {
  it('lets the calls made while a read is on its way share the next read, one request for all their topics', async () => {
    const { read, requests, next } = controlledRead();
    const endOffsets = coalescedEndOffsets(read, 0);

    const first = endOffsets('profiles');
    const inFlight = await next();
    // Made after the first read was sent: it cannot answer them.
    const second = endOffsets('subjects');
    const third = endOffsets('profiles');
    inFlight.answer();
    expect(Object.fromEntries(await first)).toEqual({ 0: 'profiles@1' });

    (await next()).answer();
    expect(requests).toEqual([['profiles'], ['subjects', 'profiles']]);
    expect(Object.fromEntries(await second)).toEqual({ 0: 'subjects@2' });
    expect(Object.fromEntries(await third)).toEqual({ 0: 'profiles@2' });
  });

  it("reads each topic alone when a shared read fails, so one topic's failure is its callers' only", async () => {
    const { read, requests, next } = controlledRead();
    const endOffsets = coalescedEndOffsets(read, 0);

    const warmUp = endOffsets('warm-up');
    const inFlight = await next();
    const good = endOffsets('profiles');
    const bad = endOffsets('gone');
    inFlight.answer();
    await warmUp;

    (await next()).fail(new Error('UNKNOWN_TOPIC_OR_PARTITION'));
    const alone = [await next(), await next()];
    for (const request of alone)
      if (request.topics[0] === 'gone') request.fail(new Error('UNKNOWN_TOPIC_OR_PARTITION'));
      else request.answer();

    expect(requests).toEqual([['warm-up'], ['profiles', 'gone'], ['profiles'], ['gone']]);
    expect(Object.fromEntries(await good)).toEqual({ 0: 'profiles@4' });
    await expect(bad).rejects.toThrow('UNKNOWN_TOPIC_OR_PARTITION');

    // The next call reads afresh.
    const after = endOffsets('profiles');
    (await next()).answer();
    expect(Object.fromEntries(await after)).toEqual({ 0: 'profiles@5' });
  });
});
