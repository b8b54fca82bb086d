import { existsSync } from 'node:fs';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { ConfigError, DependencyUnavailableError } from '../../common/errors';
import { projectRoot } from '../../common/paths';
import type { LinkRequest } from '../identity/identity-graph';
import type { IdentityRules } from '../identity/identity-rules';
import type { LinkRequestJob } from './link-request.worker';
import { packValues, transferablesOf, unpackRequests, type PackedRequests } from './packed';

/** The compiled worker: under jest the sources run, but a worker thread needs JavaScript (`npm test` builds first). */
const script = path.join(
  projectRoot(),
  'dist',
  'services',
  'identity-stitcher',
  'link-requests',
  'link-request.worker.js',
);

interface Thread {
  readonly worker: Worker;
  readonly jobs: Map<number, { resolve: (requests: PackedRequests) => void; reject: (error: unknown) => void }>;
}

/**
 * Threads that read batches' link requests (LinkRequestReader) while the stitcher's thread
 * stitches the batches before them. They hold no state: a thread that dies fails its jobs
 * with a retriable error, before the graph has changed, so those batches are fetched again
 * like after a registry outage, and the next job starts a new thread.
 */
export class LinkRequestThreads {
  private readonly threads: (Thread | undefined)[];
  private nextId = 0;

  constructor(
    count: number,
    private readonly rules: IdentityRules,
  ) {
    if (!existsSync(script))
      throw new ConfigError([
        `STITCHER_LINK_REQUEST_THREADS=${count}: ${script} is missing (npm run build makes it), or set it to 0`,
      ]);
    this.threads = new Array<Thread | undefined>(count).fill(undefined);
  }

  /** Record i's link request, or undefined when the stitcher's thread must take the record itself. */
  async read(values: readonly (Buffer | null)[], schemaId: number): Promise<(LinkRequest | undefined)[]> {
    const thread = this.leastBusy();
    const id = this.nextId++;
    const job: LinkRequestJob = { id, schemaId, values: packValues(values) };
    const answer = new Promise<PackedRequests>((resolve, reject) => thread.jobs.set(id, { resolve, reject }));
    thread.worker.postMessage(job, transferablesOf(job.values));
    return unpackRequests(await answer);
  }

  async stop(): Promise<void> {
    const running = this.threads.filter((thread): thread is Thread => thread !== undefined);
    this.threads.fill(undefined);
    await Promise.all(running.map((thread) => thread.worker.terminate()));
  }

  private leastBusy(): Thread {
    let best = 0;
    for (let i = 0; i < this.threads.length; i++) {
      const thread = this.threads[i];
      if (thread === undefined) return (this.threads[i] = this.start(i));
      if (thread.jobs.size < this.threads[best]!.jobs.size) best = i;
    }
    return this.threads[best]!;
  }

  private start(slot: number): Thread {
    // A small young generation: what a job allocates dies with it, and the thread is idle most
    // of the time, so V8's default (16 MB here) only holds garbage; ~11 MB less peak RSS.
    const worker = new Worker(script, {
      workerData: { rules: this.rules },
      resourceLimits: { maxYoungGenerationSizeMb: 4 },
    });
    // Never what keeps the process alive: the stitcher stops it, and a test may not.
    worker.unref();
    const thread: Thread = { worker, jobs: new Map() };
    const fail = (reason: string): void => {
      if (this.threads[slot] === thread) this.threads[slot] = undefined;
      for (const job of thread.jobs.values())
        job.reject(new DependencyUnavailableError(`link-request thread ${reason}`));
      thread.jobs.clear();
    };
    worker.on('message', ({ id, requests }: { id: number; requests: PackedRequests }) => {
      const job = thread.jobs.get(id);
      thread.jobs.delete(id);
      job?.resolve(requests);
    });
    worker.on('error', (error) => fail(`failed: ${error.message}`));
    worker.on('exit', (code) => fail(`exited with code ${code}`));
    return thread;
  }
}
