import { interpolate, pickLocale } from '../../../console/src/app/messages-core';
import { common } from '../../../console/src/app/common-messages';
import { ruleMessages } from '../../../console/src/rule-builder/rule-messages';

describe('console languages', () => {
  it('follows the saved choice, else the browser, else English', () => {
    expect(pickLocale(null, ['ja-JP', 'en-US'])).toBe('ja');
    expect(pickLocale(null, ['fr-FR', 'en-GB'])).toBe('en');
    expect(pickLocale(null, ['fr-FR'])).toBe('en');
    expect(pickLocale('en', ['ja'])).toBe('en');
    expect(pickLocale('de', ['ja'])).toBe('ja');
  });

  it('fills placeholders and leaves unknown ones visible', () => {
    expect(interpolate('{count} profiles, {missing}', { count: '1,234' })).toBe('1,234 profiles, {missing}');
  });

  it.each([
    ['common', common],
    ['rule builder', ruleMessages],
  ])('%s: has a Japanese text for every English one, none left empty or in English', (_, messages) => {
    expect(Object.keys(messages.ja).sort()).toEqual(Object.keys(messages.en).sort());
    for (const [key, text] of Object.entries(messages.ja)) {
      expect({ key, empty: text.trim() === '' }).toEqual({ key, empty: false });
      // Placeholders must survive translation.
      expect({ key, vars: text.match(/\{\w+\}/g)?.sort() ?? [] }).toEqual({
        key,
        vars: (messages.en as Record<string, string>)[key]!.match(/\{\w+\}/g)?.sort() ?? [],
      });
    }
  });
});
