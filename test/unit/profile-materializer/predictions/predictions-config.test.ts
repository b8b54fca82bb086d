import { loadMaterializerConfig } from '../../../../services/profile-materializer/config';
import { predictionSettings } from '../../../../services/profile-materializer/predictions/predictions.config';
import { testPrivacyKey } from '../../../support/privacy-key';

describe('prediction settings', () => {
  const base = { KUMIKI_ADMIN_TOKEN: 'test-admin-token-0123456789', KUMIKI_PRIVACY_KEY: testPrivacyKey };

  it('have defaults that start the service with nothing set', () => {
    expect(predictionSettings(loadMaterializerConfig(base))).toEqual({
      refitIntervalMs: 21_600_000,
      minPurchasers: 100,
      minRepeatBuyers: 20,
      discountRate: 0,
      excludedItems: [],
    });
  });

  it('read every variable, and name each bad one', () => {
    expect(
      predictionSettings(
        loadMaterializerConfig({
          ...base,
          PREDICTIONS_REFIT_INTERVAL_MS: '0',
          PREDICTIONS_MIN_PURCHASERS: '500',
          PREDICTIONS_MIN_REPEAT_BUYERS: '50',
          PREDICTIONS_DISCOUNT_RATE: '0.1',
          PREDICTIONS_RECOMMENDATION_EXCLUDE: 'gift-card, shipping',
        }),
      ),
    ).toEqual({
      refitIntervalMs: 0,
      minPurchasers: 500,
      minRepeatBuyers: 50,
      discountRate: 0.1,
      excludedItems: ['gift-card', 'shipping'],
    });
    expect(() =>
      loadMaterializerConfig({ ...base, PREDICTIONS_DISCOUNT_RATE: '-1', PREDICTIONS_MIN_PURCHASERS: '0' }),
    ).toThrow(
      /PREDICTIONS_MIN_PURCHASERS[\s\S]*PREDICTIONS_DISCOUNT_RATE|PREDICTIONS_DISCOUNT_RATE[\s\S]*PREDICTIONS_MIN_PURCHASERS/,
    );
  });
});
