import { createHmac, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import type { Destination } from '../../../schemas';
import { ApiError } from '../../common/error-codes';
import { errorMessage } from '../../common/errors';
import type { Logger } from '../../common/logger';
import type { ActivatorMetrics } from '../activator.metrics';
import { consentVerdict, type SubjectFilter } from '../delivery/consent';
import type { DeliveryAudit } from '../delivery/delivery-audit';
import { secretKey } from '../../common/webhook-signature';
import { WebhookSender } from '../delivery/webhook-sender';
import type { DestinationStore } from '../destinations/destination-store';
import type { SecretBox } from '../destinations/secret-box';
import type { ExportRecipientBatch, ExportRecipients } from '../privacy/export-recipients';
import type { ReadApiClient } from '../read-api.client';
import { csvHeader, hashedIdentifiers, memberLines } from './customer-match';

export interface ExportRunnerDeps {
  readonly readApi: Pick<ReadApiClient, 'fetch'>;
  readonly store: Pick<DestinationStore, 'get' | 'write'>;
  readonly secrets: SecretBox;
  readonly metrics: ActivatorMetrics;
  readonly logger: Logger;
  /** Records each export before its file is handed over (delivery-audit.ts). */
  readonly audit: DeliveryAudit;
  /** Erased and suppressed people: never in a file. */
  readonly subjects: SubjectFilter;
  /** The recipient ledger of exports: every member written is on record before the file leaves. */
  readonly recipients: Pick<ExportRecipients, 'batch'>;
  readonly settings: { readonly allowPrivateTargets: boolean; readonly timeoutMs: number };
  readonly now?: () => number;
}

export interface ExportResult {
  readonly exportId: string;
  readonly mode: string;
  readonly asOf: string;
  readonly members: number;
  readonly withheld: number;
  readonly withoutIdentifiers: number;
  readonly rows: number;
  readonly location: string;
  readonly status?: number;
}

/**
 * Changes older than this before the previous export's read are read again by a delta: the
 * materializer stores a membership change a moment after it evaluated it (the change's time),
 * so one evaluated just before the previous read may have been stored just after it. A change
 * read twice is harmless (adding a member twice, removing one twice).
 */
const deltaOverlapMs = 10 * 60_000;

/**
 * An audience export: a segment's members (or, for a delta, its changes since the last export)
 * streamed from the read API, each one's consent checked against the destination's purposes
 * (fail-closed: no consent, no row — removals included), identifiers normalised and hashed for
 * customer match, written as CSV or NDJSON to a file and then moved into the destination's
 * directory or POSTed, signed like any webhook, to its URL. Memory stays flat: one member at a
 * time, with backpressure, into a file.
 *
 * The export id of a scheduled run is derived from its time slot, so two instances running the
 * same slot write the same file name and send the same webhook-id.
 */
export class ExportRunner {
  private readonly now: () => number;
  private readonly running = new Map<string, Promise<ExportResult>>();

  constructor(private readonly deps: ExportRunnerDeps) {
    this.now = deps.now ?? Date.now;
  }

  /** Runs an export now (one at a time per destination); `slot` names a scheduled one. */
  run(destination: Destination, slot?: number): Promise<ExportResult> {
    const inFlight = this.running.get(destination.id);
    if (inFlight) return inFlight;
    const running = this.export(destination, slot).finally(() => this.running.delete(destination.id));
    this.running.set(destination.id, running);
    return running;
  }

  private async export(destination: Destination, slot: number | undefined): Promise<ExportResult> {
    const settings = destination.export!;
    const segment = destination.segments![0]!;
    const delta = settings.mode === 'delta' && destination.lastExport !== null;
    const exportId =
      slot === undefined
        ? `exp_${this.now().toString(36)}${randomBytes(4).toString('hex')}`
        : `exp_s${slot.toString(36)}`;
    const format = settings.format === 'ndjson' ? 'ndjson' : 'csv';
    const types = destination.identifiers;
    const since = delta ? destination.lastExport!.asOf - deltaOverlapMs : undefined;
    const query = since === undefined ? '' : `?changedSince=${encodeURIComponent(new Date(since).toISOString())}`;
    const targetDir = settings.directory ?? os.tmpdir();
    await fs.promises.mkdir(targetDir, { recursive: true });
    const fileName = `${destination.id}-${exportId}.${format}`;
    const partial = path.join(targetDir, `.${fileName}.${process.pid}.partial`);
    const log = this.deps.logger.child({ component: 'export', destination: destination.id, exportId });
    let counts = { members: 0, withheld: 0, withoutIdentifiers: 0, rows: 0 };
    let asOf: number;
    try {
      await this.deps.subjects.current();
      const response = await this.deps.readApi.fetch(
        `/v1/segments/${encodeURIComponent(segment)}/members/export${query}`,
      );
      if (!response.ok || !response.body)
        throw new Error(`the read API answered ${response.status}: ${(await response.text()).slice(0, 300)}`);
      asOf = Date.parse(response.headers.get('kumiki-as-of') ?? '') || this.now();
      const out = fs.createWriteStream(partial, { mode: 0o600 });
      const write = async (text: string): Promise<void> => {
        if (!out.write(text)) await once(out, 'drain');
      };
      if (format === 'csv') await write(csvHeader(types, delta));
      const recipients = this.deps.recipients.batch(destination.id, asOf);
      counts = await this.writeMembers(
        Readable.fromWeb(response.body as unknown as WebReadableStream<Uint8Array>),
        { format, types, delta, purposes: destination.purposes },
        write,
        recipients,
      );
      out.end();
      await once(out, 'finish');
      await recipients.flush();
    } catch (error) {
      await fs.promises.rm(partial, { force: true });
      this.deps.metrics.exports.inc({ destination: destination.id, outcome: 'failed' });
      log.error({ error: errorMessage(error) }, 'export failed');
      throw new ApiError(
        'KUMIKI_EXPORT_FAILED',
        `export of segment ${segment} failed: ${errorMessage(error)}`,
        undefined,
        {
          cause: error,
        },
      );
    }

    try {
      await this.deps.audit(destination, {
        action: `EXPORT segment:${segment}`,
        target: settings.directory ?? new URL(destination.url!).host,
        profileIds: [],
        rows: counts.rows,
      });
    } catch (error) {
      await fs.promises.rm(partial, { force: true });
      throw error;
    }
    let location: string;
    let status: number | undefined;
    if (settings.directory !== null) {
      location = path.join(targetDir, fileName);
      await fs.promises.rename(partial, location);
    } else {
      location = destination.url!;
      try {
        status = await this.post(destination, exportId, partial);
      } finally {
        await fs.promises.rm(partial, { force: true });
      }
    }
    const latest = this.deps.store.get(destination.id);
    await this.deps.store.write({
      ...latest,
      lastExport: {
        exportId,
        asOf,
        rows: counts.rows,
        members: counts.members,
        withheld: counts.withheld,
        location,
      },
    });
    this.deps.metrics.exports.inc({ destination: destination.id, outcome: 'written' });
    log.info({ ...counts, location, delta }, 'export written');
    return {
      exportId,
      mode: delta ? 'delta' : 'full',
      asOf: new Date(asOf).toISOString(),
      ...counts,
      location,
      ...(status === undefined ? {} : { status }),
    };
  }

  /** Reads the NDJSON answer line by line and writes each consenting member's rows, recording each member written. */
  private async writeMembers(
    body: Readable,
    options: { format: 'csv' | 'ndjson'; types: readonly string[]; delta: boolean; purposes: readonly string[] },
    write: (text: string) => Promise<void>,
    recipients: ExportRecipientBatch,
  ): Promise<{ members: number; withheld: number; withoutIdentifiers: number; rows: number }> {
    let members = 0;
    let withheld = 0;
    let withoutIdentifiers = 0;
    let rows = 0;
    let complete = false;
    for await (const line of readline.createInterface({ input: body, crlfDelay: Number.POSITIVE_INFINITY })) {
      if (line === '') continue;
      const record = JSON.parse(line) as {
        profileId?: string;
        member?: boolean;
        identifiers?: string[];
        consent?: Record<string, boolean>;
        complete?: boolean;
      };
      if (record.complete === true) {
        complete = true;
        continue;
      }
      members += 1;
      if (
        !consentVerdict(record.profileId ?? '', { consent: record.consent ?? {} }, options.purposes, this.deps.subjects)
          .deliver
      ) {
        withheld += 1;
        continue;
      }
      const hashed = hashedIdentifiers(record.identifiers ?? [], options.types);
      const action = options.delta ? (record.member ? 'add' : 'remove') : undefined;
      const text = memberLines(options.format, hashed, options.types, action);
      if (text === '' || Object.keys(hashed).length === 0) {
        withoutIdentifiers += 1;
        continue;
      }
      rows += options.format === 'csv' ? text.split('\n').length - 1 : 1;
      await recipients.add(record.profileId ?? '');
      await write(text);
    }
    if (!complete) throw new Error('the read API answer ended before its last line (cut short)');
    return { members, withheld, withoutIdentifiers, rows };
  }

  /** POSTs the file, signed over its bytes, to the destination's URL; one attempt. */
  private async post(destination: Destination, exportId: string, file: string): Promise<number> {
    const bytes = (await fs.promises.stat(file)).size;
    const at = this.now();
    const timestamp = Math.floor(at / 1000);
    const keys = destination.secrets
      .filter((s) => s.expiresAt === null || s.expiresAt > at)
      .map((s) => secretKey(this.deps.secrets.open(s.ciphertext, s.keyId)));
    const signatures: string[] = [];
    for (const key of keys) {
      const hmac = createHmac('sha256', key).update(`${exportId}.${timestamp}.`);
      for await (const chunk of fs.createReadStream(file)) hmac.update(chunk as Buffer);
      signatures.push(`v1,${hmac.digest('base64')}`);
    }
    const sender = new WebhookSender({ allowPrivate: this.deps.settings.allowPrivateTargets, maxSockets: 1 });
    try {
      const response = await sender.send({
        url: new URL(destination.url!),
        headers: {
          'content-type': destination.export?.format === 'ndjson' ? 'application/x-ndjson' : 'text/csv',
          'user-agent': 'kumiki-activator',
          'webhook-id': exportId,
          'webhook-timestamp': String(timestamp),
          'webhook-signature': signatures.join(' '),
          'kumiki-export-segment': destination.segments![0]!,
        },
        body: { file, bytes },
        timeoutMs: Math.max(this.deps.settings.timeoutMs, 60_000),
      });
      if (response.status === null || response.status < 200 || response.status >= 300)
        throw new ApiError(
          'KUMIKI_EXPORT_FAILED',
          `the export was not accepted by ${destination.url}: ${response.error ?? `HTTP ${response.status}`}`,
        );
      return response.status;
    } finally {
      sender.close();
    }
  }
}
