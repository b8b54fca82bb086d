import { FailedAuthThrottle, KeyCache } from '../../../../services/common/access';
import Fastify, { type FastifyInstance } from 'fastify';
import type { ClickHouse } from '../../../../services/common/clickhouse/client-factory';
import { dateTime64Text } from '../../../../services/common/clickhouse/datetime64';
import {
  createPredictions,
  type Predictions,
} from '../../../../services/profile-materializer/predictions/predictions.component';
import { DAY_MS } from '../../../../services/profile-materializer/predictions/prediction-inputs';
import { readApiRoutes } from '../../../../services/profile-materializer/read-api.routes';
import { parseRates } from '../../../../services/profile-materializer/rfm/money';
import { writeRfmSettings } from '../../../../services/profile-materializer/rfm/rfm.repository';
import { generateShop } from '../../../support/shop-population';
import { embeddedHome, freshDatabase, quietLogger } from '../materializer-test-env';

/**
 * The predictions API (predictions.routes.ts) on a real ClickHouse: no model yet, not enough
 * data, a refit, the model list, a fit as of the past (stored nowhere), a backtest, bad
 * parameters, recommendations (never a product the profile bought, exclusions honoured).
 */
const home = embeddedHome('predictions-api');
const token = 'test-admin-token-0123456789';
const auth = { authorization: `Bearer ${token}` };
const now = Date.now();
const truth = { r: 0.7, alpha: 30, a: 0.7, b: 3, p: 5, q: 4, gamma: 30 };
const shop = generateShop({ truth, customers: 1_500, browsers: 300, days: 365, asOf: now - 60_000, seed: 21 });

describe('predictions API', () => {
  let ch: ClickHouse;
  let app: FastifyInstance;
  let base = '';
  let predictions: Predictions;
  // fetch against a listening server, as the read API's own tests do (fastify's inject loads an ES module jest cannot).
  const call = async (method: 'GET' | 'POST', url: string, payload?: Record<string, unknown>) => {
    const response = await fetch(`${base}${url}`, {
      method,
      headers: { ...auth, ...(payload !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(payload !== undefined ? { body: JSON.stringify(payload) } : {}),
    });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  };

  beforeAll(async () => {
    ch = await freshDatabase(home);
    await writeRfmSettings(ch, {
      purchaseEvents: ['Order Completed'],
      refundEvents: ['Order Refunded'],
      windowDays: 365,
      rates: parseRates('', 'USD'),
      reportingCurrency: 'USD',
    });
    predictions = createPredictions({
      clickhouse: () => ch,
      logger: quietLogger,
      settings: {
        refitIntervalMs: 0,
        minPurchasers: 100,
        minRepeatBuyers: 20,
        discountRate: 0,
        excludedItems: ['sku-000'],
      },
    });
    app = Fastify();
    await app.register(
      readApiRoutes({
        clickhouse: () => ch,
        access: {
          keys: new KeyCache(),
          adminToken: token,
          throttle: new FailedAuthThrottle({ maxFailures: 1000, windowMs: 60_000, blockMs: 60_000 }),
        },
        logger: quietLogger,
        limits: { maxExecutionSeconds: 10, maxResultRows: 10_000, maxMemoryBytes: 1_000_000_000 },
        predictions: { predictions, excludedItems: ['sku-000'] },
      }),
    );
    base = await app.listen({ host: '127.0.0.1', port: 0 });
  }, 120_000);
  afterAll(async () => {
    await app?.close();
    await ch?.close();
  });

  it('answers without a model, refuses to fit too little data, then fits, lists, backtests and recommends', async () => {
    expect(await call('GET', '/v1/models')).toEqual({ status: 200, body: { models: [] } });
    const empty = await call('POST', '/v1/models/fit', {});
    expect(empty.status).toBe(422);
    expect(empty.body).toEqual({
      code: 'KUMIKI_NOT_ENOUGH_DATA',
      message: expect.stringMatching(/found 0 purchasers/),
    });

    await ch.insert(
      'events_store',
      shop.events.map((e) => ({
        ...e,
        timestamp: dateTime64Text(e.timestamp),
        received_at: dateTime64Text(e.received_at),
      })),
    );
    const profiles = [...new Set(shop.events.map((e) => e.profile_id))];
    await ch.insert(
      'identities_store',
      profiles.map((id) => ({
        identifier_type: 'user_id',
        identifier_value: id,
        profile_id: id,
        linked_at: dateTime64Text(now),
        message_id: `link-${id}`,
        version: 1,
      })),
    );

    const fitted = await call('POST', '/v1/models/fit', {});
    expect(fitted.status).toBe(200);
    const purchasers = new Set(shop.orders.map((o) => o.profileId)).size;
    expect(fitted.body).toMatchObject({ model: 'bgnbd-gg', timeUnit: 'day', customers: purchasers });
    const models = (await call('GET', '/v1/models')).body.models as Array<Record<string, unknown>>;
    expect(models).toHaveLength(1);
    expect(models[0]).toMatchObject({
      version: fitted.body.version,
      params: fitted.body.params,
      customers: purchasers,
    });

    // A fit of the past: the purchasers whose first order came before it; nothing stored.
    const asOf = now - 100 * DAY_MS;
    const past = await call('POST', '/v1/models/fit', { asOf: new Date(asOf).toISOString() });
    const before = new Set(shop.orders.filter((o) => o.at <= asOf).map((o) => o.profileId)).size;
    expect(past.status).toBe(200);
    expect(past.body).toMatchObject({ model: 'bgnbd-gg', asOf: new Date(asOf).toISOString(), customers: before });
    expect((await call('GET', '/v1/models')).body.models).toHaveLength(1);

    const badTime = await call('POST', '/v1/models/fit', { asOf: 'yesterday' });
    expect(badTime).toEqual({
      status: 400,
      body: { code: 'KUMIKI_INVALID_PARAMETER', message: expect.any(String), field: 'asOf' },
    });
    const backwards = await call('POST', '/v1/models/backtest', {
      calibrationEnd: new Date(now - DAY_MS).toISOString(),
      holdoutEnd: new Date(now - 2 * DAY_MS).toISOString(),
    });
    expect(backwards.body).toMatchObject({ code: 'KUMIKI_INVALID_PARAMETER', field: 'holdoutEnd' });

    const calibrationEnd = now - 60 * DAY_MS;
    const backtest = await call('POST', '/v1/models/backtest', {
      calibrationEnd: new Date(calibrationEnd).toISOString(),
      holdoutEnd: new Date(now - 60_000).toISOString(),
    });
    expect(backtest.status).toBe(200);
    const calibrationCustomers = new Set(shop.orders.filter((o) => o.at <= calibrationEnd).map((o) => o.profileId))
      .size;
    expect(backtest.body).toMatchObject({ customers: calibrationCustomers });
    // Actual repeat purchase days in the holdout, counted here from the generated orders.
    const holdoutDays = new Map<string, Set<number>>();
    for (const o of shop.orders)
      if (o.at > calibrationEnd && o.at <= now - 60_000) {
        const days = holdoutDays.get(o.profileId) ?? new Set<number>();
        days.add(Math.floor(o.at / DAY_MS));
        holdoutDays.set(o.profileId, days);
      }
    const calibrationBuyers = new Set(shop.orders.filter((o) => o.at <= calibrationEnd).map((o) => o.profileId));
    const actual = [...holdoutDays].filter(([id]) => calibrationBuyers.has(id)).reduce((s, [, d]) => s + d.size, 0);
    expect((backtest.body.repeatPurchases as { actual: number }).actual).toBe(actual);
    expect((await call('GET', '/v1/models')).body.models).toHaveLength(1);

    // Recommendations: never a product the profile bought, nor an excluded one.
    const customer = shop.orders.find((o) => o.items.length > 1)!.profileId;
    const bought = new Set(shop.orders.filter((o) => o.profileId === customer).flatMap((o) => o.items));
    const recommended = await call('GET', `/v1/profiles/user_id/${customer}/recommendations?exclude=sku-001`);
    expect(recommended.status).toBe(200);
    const items = recommended.body.recommendations as { productId: string; reason: string }[];
    expect(items).toHaveLength(5);
    for (const { productId, reason } of items) {
      expect(bought.has(productId)).toBe(false);
      expect(['sku-000', 'sku-001']).not.toContain(productId);
      expect(['bought or viewed together', 'popular']).toContain(reason);
    }
    expect((await call('GET', `/v1/profiles/user_id/${customer}/recommendations?limit=21`)).body).toMatchObject({
      code: 'KUMIKI_INVALID_PARAMETER',
      field: 'limit',
    });
    expect((await call('GET', '/v1/profiles/user_id/nobody/recommendations')).status).toBe(404);
  });

  it('settles only once the run under way has written, as an erasure needs', async () => {
    const before = predictions.runs();
    let finished = false;
    const run = predictions.refit().finally(() => {
      finished = true;
    });
    await predictions.settled();
    expect(finished).toBe(true);
    expect(predictions.runs()).toBe(before + 1);
    await run;
  });
});
