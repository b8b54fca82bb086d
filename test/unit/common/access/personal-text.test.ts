import { withoutPersonalText } from '../../../../services/common/access/personal-text';

it('replaces addresses, phone numbers and long quoted values, and keeps the rest of the reason', () => {
  expect(withoutPersonalText('traits.email: "taro@example.com" is not valid')).toBe(
    'traits.email: "[email]" is not valid',
  );
  expect(withoutPersonalText('ｔａｒｏ＠ｅｘａｍｐｌｅ．ｃｏｍ is not an email')).toBe('[email] is not an email');
  expect(withoutPersonalText('invalid phone 090-1234-5678 (JP)')).toBe('invalid phone [number] (JP)');
  expect(withoutPersonalText('invalid "string": "a1b2c3d4e5f6g7h8i9"')).toBe('invalid "string": [value]');
});

it('leaves reasons without personal data as they are', () => {
  for (const reason of [
    'the event is 40000 bytes, over the limit of 32 KB',
    'timestamp: must be an ISO 8601 date-time',
    'the event nests deeper than 64 levels',
    'not an Avro Event in the wire format: truncated buffer',
  ])
    expect(withoutPersonalText(reason)).toBe(reason);
});
