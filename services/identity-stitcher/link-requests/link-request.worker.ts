import { parentPort, workerData } from 'node:worker_threads';
import type { IdentityRules } from '../identity/identity-rules';
import { transferablesOf, type PackedValues } from './packed';
import { LinkRequestReader } from './read-link-requests';

/** A link-request thread (see LinkRequestThreads): one job per batch, answered in kind. */
export interface LinkRequestJob {
  readonly id: number;
  readonly schemaId: number;
  readonly values: PackedValues;
}

if (parentPort) {
  const port = parentPort;
  const reader = new LinkRequestReader((workerData as { rules: IdentityRules }).rules);
  port.on('message', (job: LinkRequestJob) => {
    const requests = reader.read(job.values, job.schemaId);
    port.postMessage({ id: job.id, requests }, transferablesOf(requests));
  });
}
