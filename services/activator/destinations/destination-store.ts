import { randomBytes, randomUUID } from 'node:crypto';
import path from 'node:path';
import type { Destination, DestinationGrant, DestinationSecret, ExportSettings } from '../../../schemas';
import { ApiError } from '../../common/error-codes';
import type { KafkaAdmin } from '../../common/kafka/client';
import { checkTarget } from '../delivery/target-guard';
import { newWebhookSecret } from '../../common/webhook-signature';
import { topicsOf, type CreateDestinationBody, type PatchDestinationBody } from './destination';
import type { DestinationCatalog } from './destination-catalog';
import type { SecretBox } from './secret-box';

/** Checks a destination about to be written; answers the key that lets personal data flow to it. */
export type Authorize = (destination: Destination) => Promise<DestinationGrant | null>;

export interface DestinationStoreDeps {
  readonly catalog: Pick<DestinationCatalog, 'get' | 'all' | 'write'>;
  readonly admin: () => KafkaAdmin;
  readonly secrets: SecretBox;
  /** Whether a live segment has this id (the read API); throws when it cannot tell. */
  readonly segmentExists: (id: string) => Promise<boolean>;
  readonly settings: {
    readonly groupPrefix: string;
    readonly changesTopic: string;
    readonly updatesTopic: string;
    readonly purposes: readonly string[];
    readonly allowPrivateTargets: boolean;
    readonly exportRoot: string;
    readonly secretOverlapMs: number;
  };
  readonly now?: () => number;
}

/** The consumer group a destination reads through in a given epoch. */
export function groupIdOf(prefix: string, id: string, epoch: number): string {
  return `${prefix}.${id}.${epoch}`;
}

/**
 * What the destinations API does to destinations, over the catalog: validation beyond the
 * body's shape (URL, target, purposes, segments, export directory), secrets made and sealed,
 * and every repositioning of a destination's reading — its start at creation, a replay, a
 * change of the topics it reads — done the same way: a new consumer group (the epoch) whose
 * offsets are set before any instance joins it. The old group's workers stop when they see the
 * new epoch; changes both deliver in between go twice, with the same webhook-id.
 */
export class DestinationStore {
  private readonly now: () => number;

  constructor(private readonly deps: DestinationStoreDeps) {
    this.now = deps.now ?? Date.now;
  }

  list(): Destination[] {
    return this.deps.catalog.all();
  }

  get(id: string): Destination {
    const found = this.deps.catalog.get(id);
    if (!found) throw new ApiError('KUMIKI_DESTINATION_NOT_FOUND', `no destination has id ${JSON.stringify(id)}`);
    return found;
  }

  /**
   * `authorize` sees the destination first, before it is validated or anything is written: it
   * refuses, or names the key that lets personal data flow to it (`grantedBy`; null when none).
   */
  async create(
    body: CreateDestinationBody,
    authorize: Authorize = async () => null,
  ): Promise<{ destination: Destination; secret: string }> {
    const id = `dst_${randomBytes(9).toString('base64url').replace(/[-_]/g, 'x')}`;
    const at = this.now();
    const secret = newWebhookSecret();
    const destination: Destination = {
      id,
      name: body.name,
      type: body.type,
      url: body.url ?? null,
      events: body.type === 'webhook' ? [...new Set(body.events ?? [])] : [],
      segments: body.segments ? [...new Set(body.segments)] : null,
      purposes: [...new Set(body.purposes)],
      traits: [...new Set(body.traits)],
      identifiers: [...new Set(body.identifiers)],
      rateLimit: body.rateLimit ?? null,
      secrets: [this.seal(secret, at, null)],
      status: 'active',
      pausedReason: null,
      pausedAt: null,
      epoch: 0,
      export: body.type === 'export' ? this.exportSettings(body.export) : null,
      lastExport: null,
      deadLetterCursor: 0,
      grantedBy: null,
      createdAt: at,
      updatedAt: at,
      revision: randomUUID(),
    };
    destination.grantedBy = await authorize(destination);
    await this.validate(destination);
    // Every change after this moment is delivered: the group starts at the topics' ends.
    await this.positionGroup(destination, async (topic) => this.deps.admin().endOffsets(topic));
    await this.deps.catalog.write(id, destination);
    return { destination, secret };
  }

  async patch(id: string, body: PatchDestinationBody, authorize: Authorize = async () => null): Promise<Destination> {
    const current = this.get(id);
    const next: Destination = {
      ...current,
      ...(body.name !== undefined ? { name: body.name } : {}),
      ...(body.url !== undefined ? { url: body.url } : {}),
      ...(body.events !== undefined && current.type === 'webhook' ? { events: [...new Set(body.events)] } : {}),
      ...(body.segments !== undefined ? { segments: body.segments && [...new Set(body.segments)] } : {}),
      ...(body.purposes !== undefined ? { purposes: [...new Set(body.purposes)] } : {}),
      ...(body.traits !== undefined ? { traits: [...new Set(body.traits)] } : {}),
      ...(body.identifiers !== undefined ? { identifiers: [...new Set(body.identifiers)] } : {}),
      ...(body.rateLimit !== undefined ? { rateLimit: body.rateLimit } : {}),
      ...(body.export !== undefined && current.type === 'export' ? { export: this.exportSettings(body.export) } : {}),
    };
    next.grantedBy = await authorize(next);
    await this.validate(next);
    const before = this.topics(current);
    const after = this.topics(next);
    if (before.join() !== after.join()) {
      // Reading other topics: a new group that keeps the old one's place where it read before.
      const oldGroup = groupIdOf(this.deps.settings.groupPrefix, id, current.epoch);
      next.epoch = current.epoch + 1;
      await this.positionGroup(next, async (topic) => {
        const ends = await this.deps.admin().endOffsets(topic);
        if (!before.includes(topic)) return ends;
        const committed = await this.deps.admin().groupOffsets(oldGroup, topic);
        return new Map([...ends].map(([p, end]) => [p, Number(committed.get(p) ?? -1) >= 0 ? committed.get(p)! : end]));
      });
    }
    return this.write(next);
  }

  async pause(id: string, reason: string): Promise<Destination> {
    const current = this.get(id);
    if (current.status === 'paused') return current;
    return this.write({ ...current, status: 'paused', pausedReason: reason, pausedAt: this.now() });
  }

  async resume(id: string): Promise<Destination> {
    const current = this.get(id);
    if (current.status === 'active') return current;
    return this.write({ ...current, status: 'active', pausedReason: null, pausedAt: null });
  }

  /** Delivers again every change since `from`: the destination's group starts over at that time. */
  async replay(
    id: string,
    from: number,
  ): Promise<{ destination: Destination; positions: Record<string, Record<string, string>> }> {
    const current = this.get(id);
    if (current.type !== 'webhook')
      throw new ApiError('KUMIKI_DESTINATION_CONFLICT', 'only webhook destinations replay; run an export instead');
    const next = { ...current, epoch: current.epoch + 1 };
    const positions: Record<string, Record<string, string>> = {};
    await this.positionGroup(next, async (topic) => {
      const offsets = await this.deps.admin().offsetsAtTime(topic, from);
      positions[topic] = Object.fromEntries([...offsets].map(([p, o]) => [String(p), o]));
      return offsets;
    });
    return { destination: await this.write(next), positions };
  }

  async remove(id: string): Promise<void> {
    this.get(id);
    await this.deps.catalog.write(id, undefined);
  }

  /** A new signing secret; the previous ones keep signing until `secretOverlapMs` from now. */
  async rotateSecret(id: string): Promise<{ destination: Destination; secret: string }> {
    const current = this.get(id);
    const at = this.now();
    const secret = newWebhookSecret();
    const until = at + this.deps.settings.secretOverlapMs;
    const kept = current.secrets
      .filter((s) => s.expiresAt === null || s.expiresAt > at)
      .map((s) => ({ ...s, expiresAt: s.expiresAt === null ? until : Math.min(s.expiresAt, until) }));
    const destination = await this.write({ ...current, secrets: [this.seal(secret, at, null), ...kept] });
    return { destination, secret };
  }

  /** Writes a new version of a destination (a later update of the same fields wins). */
  async write(destination: Destination): Promise<Destination> {
    const next = { ...destination, updatedAt: this.now(), revision: randomUUID() };
    await this.deps.catalog.write(next.id, next);
    return next;
  }

  topics(destination: Pick<Destination, 'type' | 'events'>): string[] {
    return topicsOf(destination, {
      changes: this.deps.settings.changesTopic,
      updates: this.deps.settings.updatesTopic,
    });
  }

  private async positionGroup(
    destination: Destination,
    offsetsOf: (topic: string) => Promise<ReadonlyMap<number, string>>,
  ): Promise<void> {
    const group = groupIdOf(this.deps.settings.groupPrefix, destination.id, destination.epoch);
    for (const topic of this.topics(destination))
      await this.deps.admin().setGroupOffsets(group, topic, await offsetsOf(topic));
  }

  private seal(secret: string, at: number, expiresAt: number | null): DestinationSecret {
    return {
      id: `sec_${randomBytes(6).toString('hex')}`,
      keyId: this.deps.secrets.keyId,
      ciphertext: this.deps.secrets.seal(secret),
      createdAt: at,
      expiresAt,
    };
  }

  private exportSettings(given: CreateDestinationBody['export']): ExportSettings {
    return {
      format: given?.format ?? 'csv',
      mode: given?.mode ?? 'full',
      directory: given?.directory === undefined ? null : path.resolve(this.deps.settings.exportRoot, given.directory),
      intervalMinutes: given?.intervalMinutes ?? null,
    };
  }

  /** Everything the body's shape cannot say; the first problem is answered as 400 with its field. */
  private async validate(d: Destination): Promise<void> {
    const invalid = (field: string, message: string): never => {
      throw new ApiError('KUMIKI_INVALID_DESTINATION', message, field);
    };
    const unknownPurposes = d.purposes.filter((p) => !this.deps.settings.purposes.includes(p));
    if (unknownPurposes.length > 0)
      invalid(
        'purposes',
        `unknown purpose${unknownPurposes.length > 1 ? 's' : ''} ${unknownPurposes.join(', ')}; known: ${this.deps.settings.purposes.join(', ')}`,
      );
    const needsUrl = d.type === 'webhook' || d.export?.directory === null;
    if (needsUrl) {
      if (d.url === null)
        invalid('url', d.type === 'webhook' ? 'url is required for a webhook' : 'give export.directory or url');
      let url: URL;
      try {
        url = new URL(d.url!);
      } catch {
        return invalid('url', `url ${JSON.stringify(d.url)} is not a URL`);
      }
      if (url.protocol !== 'https:' && url.protocol !== 'http:') invalid('url', 'url must be http(s)');
      if (url.username || url.password)
        invalid('url', 'url must not carry credentials; receivers verify the signature');
      const refused = await checkTarget(url, this.deps.settings.allowPrivateTargets);
      if (refused) invalid('url', refused);
    }
    if (d.type === 'webhook' && d.events.length === 0) invalid('events', 'events must name at least one event type');
    if (d.type === 'export') {
      if (d.segments?.length !== 1) invalid('segments', 'an export names exactly one segment');
      const directory = d.export?.directory;
      if (directory !== null && directory !== undefined) {
        const root = this.deps.settings.exportRoot;
        const relative = path.relative(root, directory);
        if (relative.startsWith('..') || path.isAbsolute(relative))
          invalid('export.directory', `export.directory must be inside ${root} (ACTIVATOR_EXPORT_ROOT)`);
      }
      if (d.identifiers.length === 0) invalid('identifiers', 'an export needs at least one identifier type to hash');
    }
    for (const [index, segment] of (d.segments ?? []).entries()) {
      if (!(await this.deps.segmentExists(segment)))
        invalid(`segments[${index}]`, `no segment has id ${JSON.stringify(segment)}`);
    }
  }
}
