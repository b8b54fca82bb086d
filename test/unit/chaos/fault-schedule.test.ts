import { faultSchedule, formatSchedule, type Fault } from '../../chaos/fault-schedule';

const request = {
  seed: 11,
  windowMs: 600_000,
  kills: { collector: 24, 'identity-stitcher': 24, 'profile-materializer': 24 },
  aimedShare: { 'identity-stitcher': 0.3, 'profile-materializer': 0.3 },
  brokerBounces: 6,
  zombies: { service: 'identity-stitcher', count: 2, minStoppedMs: 15_000 },
};

describe('the fault schedule', () => {
  const faults = faultSchedule(request);

  it('has exactly the faults asked for, in time order, inside the window', () => {
    const kills = (service: string) => faults.filter((f) => f.kind === 'kill' && f.service === service).length;
    expect([kills('collector'), kills('identity-stitcher'), kills('profile-materializer')]).toEqual([24, 24, 24]);
    expect(faults.filter((f) => f.kind === 'broker')).toHaveLength(6);
    expect(faults.filter((f) => f.kind === 'zombie')).toHaveLength(2);
    const times = faults.map((f) => f.atMs);
    expect(times).toEqual([...times].sort((a, b) => a - b));
    expect(Math.min(...times)).toBeGreaterThanOrEqual(30_000);
    expect(Math.max(...times)).toBeLessThanOrEqual(570_000);
  });

  it('spreads each target over the whole window: one fault in each of its slots', () => {
    const stitcher = faults.filter((f) => f.kind === 'kill' && f.service === 'identity-stitcher');
    const slot = (540_000 / 24) * 1.0001;
    stitcher.forEach((fault, i) => {
      expect(fault.atMs).toBeGreaterThanOrEqual(30_000 + i * (slot / 1.0001) - 1);
      expect(fault.atMs).toBeLessThanOrEqual(30_000 + (i + 1) * slot + 1);
    });
  });

  it('lets every killed process live half a second at least, however late its lane runs', () => {
    for (const fault of faults) if (fault.kind === 'kill') expect(fault.minAgeMs).toBeGreaterThanOrEqual(500);
  });

  it('aims only where asked, and keeps zombies stopped longer than the session timeout', () => {
    const aimed = (service: string) =>
      faults.filter(
        (f): f is Extract<Fault, { kind: 'kill' }> => f.kind === 'kill' && f.service === service && f.aimed,
      );
    expect(aimed('collector')).toHaveLength(0);
    expect(aimed('identity-stitcher').length).toBeGreaterThan(0);
    expect(aimed('profile-materializer').length).toBeGreaterThan(0);
    for (const zombie of faults.filter((f) => f.kind === 'zombie'))
      expect(zombie.kind === 'zombie' && zombie.stoppedMs).toBeGreaterThanOrEqual(15_000);
  });

  it('is the same for the same seed, and printed one line per fault', () => {
    expect(faultSchedule(request)).toEqual(faults);
    expect(faultSchedule({ ...request, seed: 12 })).not.toEqual(faults);
    const printed = formatSchedule(faults).split('\n');
    expect(printed).toHaveLength(faults.length);
    expect(
      printed.filter((line) => /^\d\d:\d\d\.\d broker (restart|SIGKILL), down \d+\.\d s$/.test(line)),
    ).toHaveLength(6);
    expect(printed.filter((line) => /SIGKILL identity-stitcher( inside a transaction)?$/.test(line))).toHaveLength(24);
  });
});
