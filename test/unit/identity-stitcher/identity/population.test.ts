import { IdentityGraph } from '../../../../services/identity-stitcher/identity/identity-graph';
import { resolveIdentityRules } from '../../../../services/identity-stitcher/identity/identity-rules';
import { IdentifierNormaliser } from '../../../../services/identity-stitcher/identity/normalise';
import { linkRequestOf } from '../../../../services/identity-stitcher/steps/link-request.step';
import { resolveProfile } from '../../../../services/identity-stitcher/steps/resolve-profile.step';
import { generatePopulation, pairwiseScores } from '../../../support/identity-population';

describe('identity rules on a generated population (no Kafka)', () => {
  it('resolves people with precision and recall 1, full-width and invisible-character spellings included, in any order', () => {
    const rules = resolveIdentityRules();
    const population = generatePopulation(400, 7);
    for (const order of ['as generated', 'shuffled']) {
      const events = order === 'as generated' ? population : shuffle(population, 3);
      const graph = new IdentityGraph(rules);
      const normaliser = new IdentifierNormaliser(rules);
      const stitched = events.map((item) => {
        const request = linkRequestOf(item.event, rules, normaliser);
        const result = request.kind === 'ok' ? resolveProfile(request.value, graph) : request;
        if (result.kind !== 'ok') throw new Error(`${item.event.messageId}: ${result.kind}`);
        return { item, first: result.value.linked[0]! };
      });
      const assignments = stitched
        .filter(({ item }) => item.person !== null)
        .map(({ item, first }) => ({ person: item.person!, profile: graph.profileIdOf(first.type, first.value)! }));
      const scores = pairwiseScores(assignments);
      expect(scores.precision).toBe(1);
      expect(scores.recall).toBe(1);
      expect(scores.overMergeRate).toBe(0);
    }
  });
});

function shuffle<T>(items: readonly T[], seed: number): T[] {
  const out = [...items];
  let state = seed;
  for (let i = out.length - 1; i > 0; i--) {
    state = (state * 1103515245 + 12345) % 2147483648;
    const j = state % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}
