import pino from 'pino';
import { Service, type Component } from '../../../services/common/lifecycle';

const silent = pino({ level: 'silent' });

function recorder(): { events: string[]; component(name: string, behaviour?: Partial<Component>): Component } {
  const events: string[] = [];
  return {
    events,
    component: (name, behaviour = {}) => ({
      name,
      start: async () => void events.push(`start ${name}`),
      stop: async () => void events.push(`stop ${name}`),
      isHealthy: () => true,
      isReady: () => true,
      ...behaviour,
    }),
  };
}

describe('Service lifecycle', () => {
  it('starts the edge first, then components in order; stops the edge first, then components in reverse', async () => {
    const r = recorder();
    const service = new Service({ name: 't', logger: silent, graceMs: 1_000, edge: () => r.component('http') }, [
      r.component('kafka'),
      r.component('producer'),
    ]);
    await service.start();
    expect(service.isReady()).toBe(true);
    expect(await service.stop({ signal: 'SIGTERM' })).toBe(0);
    expect(r.events).toEqual([
      'start http',
      'start kafka',
      'start producer',
      'stop http',
      'stop producer',
      'stop kafka',
    ]);
    expect(service.status).toBe('stopped');
  });

  it('stops once however often it is asked', async () => {
    const r = recorder();
    const service = new Service({ name: 't', logger: silent, graceMs: 1_000 }, [r.component('a')]);
    await service.start();
    const [first, second] = await Promise.all([service.stop(), service.stop()]);
    expect([first, second]).toEqual([0, 0]);
    expect(r.events.filter((e) => e === 'stop a')).toHaveLength(1);
  });

  it('exits non-zero when stopping because of an error', async () => {
    const r = recorder();
    const service = new Service({ name: 't', logger: silent, graceMs: 1_000 }, [r.component('a')]);
    await service.start();
    expect(await service.stop({ error: new Error('boom') })).toBe(1);
  });

  it('bounds a component that hangs on stop and still stops the others', async () => {
    const r = recorder();
    const hang = r.component('hang', { stop: () => new Promise<void>(() => undefined) });
    const service = new Service({ name: 't', logger: silent, graceMs: 200 }, [r.component('first'), hang]);
    await service.start();
    // Without the bound this stop would never resolve and the test would time out.
    expect(await service.stop()).toBe(0);
    expect(r.events).toContain('stop first');
  });

  it('stops only what started when a stop arrives during start', async () => {
    const r = recorder();
    let release!: () => void;
    const slow = r.component('slow', { start: () => new Promise<void>((resolve) => (release = resolve)) });
    const service = new Service({ name: 't', logger: silent, graceMs: 1_000 }, [slow, r.component('later')]);
    const starting = service.start();
    expect(service.isHealthy()).toBe(true);
    expect(service.isReady()).toBe(false);
    const stopping = service.stop();
    release();
    await starting;
    await stopping;
    expect(r.events).toEqual(['stop slow']);
  });

  it('is not ready while a component is not ready', async () => {
    const r = recorder();
    let ready = false;
    const service = new Service({ name: 't', logger: silent, graceMs: 1_000 }, [
      r.component('kafka', { isReady: () => ready }),
    ]);
    await service.start();
    expect(service.readiness()).toEqual({ kafka: false });
    ready = true;
    expect(service.isReady()).toBe(true);
    await service.stop();
  });
});
