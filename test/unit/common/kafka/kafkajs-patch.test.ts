import { readFileSync } from 'node:fs';
import { KafkajsNotPatchedError, patchProblem } from '../../../../services/common/kafka/kafkajs-patch';

describe('the start-up check', () => {
  it('finds the patch in the installed kafkajs, and refuses a produce request without it, saying how to apply it', () => {
    const installed = readFileSync(require.resolve('kafkajs/src/protocol/requests/produce/v3/request.js'), 'utf8');
    expect(patchProblem(installed)).toBeUndefined();
    const unpatched = patchProblem(installed.replace(/^.*kumiki\.kafka\.records.*$/gm, ''));
    expect(unpatched).toBeInstanceOf(KafkajsNotPatchedError);
    expect(unpatched?.isRetriable).toBe(false);
    expect(unpatched?.message).toMatch(/without its patch \(patches\/kafkajs\+2\.2\.4\.patch\).*npx patch-package/);
  });
});
