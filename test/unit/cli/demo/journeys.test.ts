import { journeys, journeyTraffic, mailFor } from '../../../../services/cli/demo/journeys';

describe('the journeys demo', () => {
  const now = Date.UTC(2026, 4, 20, 12);
  const { people, batch } = journeyTraffic(now, 't1');

  it('casts two consenting people and one refusing per journey, and a bystander', () => {
    for (const journey of journeys) {
      const cast = people.filter((p) => p.journey === journey.segment);
      expect([journey.segment, cast.map((p) => p.marketing)]).toEqual([journey.segment, [true, true, false]]);
    }
    expect(people.filter((p) => p.journey === null)).toHaveLength(1);
    expect(new Set(people.map((p) => p.email)).size).toBe(people.length);
  });

  it('dates the events so that each journey’s rule holds now', () => {
    const byUser = (id: string) =>
      batch.filter((m) => (m as { userId: string }).userId === id) as Record<string, unknown>[];
    const repurchase = people.find((p) => p.journey === 'Repurchase day 4')!;
    const order = byUser(repurchase.userId).find((m) => m.event === 'Order Completed')!;
    const daysAgo = (now - Date.parse(String(order.timestamp))) / 86_400_000;
    expect(Math.floor(daysAgo)).toBe(4);
    const birthday = people.find((p) => p.journey === 'Birthday this month')!;
    const identify = byUser(birthday.userId).find((m) => m.type === 'identify') as { traits: { birthday: string } };
    expect(identify.traits.birthday).toBe('1990-05-15');
    const refusing = people.find((p) => !p.marketing)!;
    expect(byUser(refusing.userId)[0]).toMatchObject({
      context: { consent: { categoryPreferences: { marketing: false } } },
    });
  });

  it("writes the journey's mail to the person's email, by segment name", () => {
    expect(
      mailFor({
        data: {
          segment: { name: 'Cart abandoned 1 day' },
          identifiers: { email: ['ann@example.com'] },
          traits: { first_name: 'Ann' },
        },
      }),
    ).toEqual({ to: 'ann@example.com', subject: 'Ann, your shoes are still in your cart' });
    expect(
      mailFor({ data: { segment: { name: 'Some other segment' }, identifiers: { email: ['a@x.io'] } } }),
    ).toBeUndefined();
    expect(mailFor({ data: { segment: { name: 'Birthday this month' } } })).toBeUndefined();
  });
});
