import { z } from 'zod';
import type { Destination, ExportSettings } from '../../../schemas';
import { ApiError } from '../../common/error-codes';

/**
 * A destination as the API takes and shows it (DESIGN.md, "Destinations"). The stored form is
 * the Avro `Destination` on kumiki.destinations; secrets never leave it but sealed, and the API
 * shows only their ids and dates.
 */
export const eventTypes = ['segment.entered', 'segment.exited', 'profile.updated'] as const;
export type EventType = (typeof eventTypes)[number];

export const destinationTypes = ['webhook', 'export'] as const;

const listOfNames = (what: string) =>
  z.array(z.string().min(1, `each ${what} must be a non-empty string`).max(200)).max(100);

const exportSettings = z
  .object({
    format: z.enum(['csv', 'ndjson'], { message: 'must be csv or ndjson' }).default('csv'),
    mode: z.enum(['full', 'delta'], { message: 'must be full or delta' }).default('full'),
    directory: z.string().min(1).optional(),
    intervalMinutes: z.number().int().min(1).max(525_600).optional(),
  })
  .strict();

/** The body of POST /v1/destinations. */
export const createDestinationBody = z
  .object({
    name: z.string().min(1, 'must be a non-empty string').max(200),
    type: z.enum(destinationTypes, { message: 'must be webhook or export' }),
    url: z.string().min(1).max(2_000).optional(),
    events: z.array(z.enum(eventTypes, { message: `must be one of ${eventTypes.join(', ')}` })).optional(),
    segments: listOfNames('segment id').optional(),
    purposes: listOfNames('purpose').min(1, 'must name at least one consent purpose'),
    traits: listOfNames('trait').default([]),
    identifiers: listOfNames('identifier type').default([]),
    rateLimit: z.number().positive('must be a positive number of requests per second').max(1_000_000).optional(),
    export: exportSettings.optional(),
  })
  .strict();

/** The body of PATCH /v1/destinations/{id}: any field of a creation but `type`; null clears an optional one. */
export const patchDestinationBody = z
  .object({
    name: z.string().min(1).max(200).optional(),
    url: z.string().min(1).max(2_000).optional(),
    events: z.array(z.enum(eventTypes, { message: `must be one of ${eventTypes.join(', ')}` })).optional(),
    segments: listOfNames('segment id').nullable().optional(),
    purposes: listOfNames('purpose').min(1, 'must name at least one consent purpose').optional(),
    traits: listOfNames('trait').optional(),
    identifiers: listOfNames('identifier type').optional(),
    rateLimit: z.number().positive().max(1_000_000).nullable().optional(),
    export: exportSettings.optional(),
  })
  .strict();

export type CreateDestinationBody = z.output<typeof createDestinationBody>;
export type PatchDestinationBody = z.output<typeof patchDestinationBody>;

/** Parses a body with `schema`, turning the first problem into 400 KUMIKI_INVALID_DESTINATION at its JSON path. */
export function parseBody<S extends z.ZodType>(schema: S, body: unknown): z.output<S> {
  if (body === null || typeof body !== 'object' || Array.isArray(body))
    throw new ApiError('KUMIKI_MALFORMED_JSON', 'the body must be a JSON object');
  const result = schema.safeParse(body);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const field = issue.path.map((part) => (typeof part === 'number' ? `[${part}]` : `.${String(part)}`)).join('');
  const path = field.startsWith('.') ? field.slice(1) : field;
  const message =
    issue.code === 'unrecognized_keys'
      ? `unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.join(', ')}`
      : `${path || 'body'} ${issue.message}`;
  throw new ApiError('KUMIKI_INVALID_DESTINATION', message, path || undefined);
}

/** The topics a destination reads, by the events it takes. */
export function topicsOf(
  destination: Pick<Destination, 'type' | 'events'>,
  names: { changes: string; updates: string },
): string[] {
  if (destination.type !== 'webhook') return [];
  const wanted: string[] = [];
  if (destination.events.some((e) => e === 'segment.entered' || e === 'segment.exited')) wanted.push(names.changes);
  if (destination.events.includes('profile.updated')) wanted.push(names.updates);
  return wanted;
}

/** Whether payloads carry personal data: then whoever sets the destination up needs `pii:read`. */
export function carriesPersonalData(destination: Pick<Destination, 'identifiers' | 'traits' | 'type'>): boolean {
  return destination.type === 'export' || destination.identifiers.length > 0 || destination.traits.length > 0;
}

export interface DestinationView {
  readonly id: string;
  readonly name: string;
  readonly type: string;
  readonly url: string | null;
  readonly events: readonly string[];
  readonly segments: readonly string[] | null;
  readonly purposes: readonly string[];
  readonly traits: readonly string[];
  readonly identifiers: readonly string[];
  readonly rateLimit: number | null;
  readonly status: string;
  readonly pausedReason: string | null;
  readonly pausedAt: string | null;
  readonly export: ExportSettings | null;
  readonly lastExport: Record<string, unknown> | null;
  readonly secrets: readonly { id: string; createdAt: string; expiresAt: string | null }[];
  readonly createdAt: string;
  readonly updatedAt: string;
}

/** What the API shows of a destination: everything but the sealed secrets. */
export function toView(destination: Destination): DestinationView {
  const iso = (ms: number): string => new Date(ms).toISOString();
  return {
    id: destination.id,
    name: destination.name,
    type: destination.type,
    url: destination.url,
    events: destination.events,
    segments: destination.segments,
    purposes: destination.purposes,
    traits: destination.traits,
    identifiers: destination.identifiers,
    rateLimit: destination.rateLimit,
    status: destination.status,
    pausedReason: destination.pausedReason,
    pausedAt: destination.pausedAt === null ? null : iso(destination.pausedAt),
    export: destination.export,
    lastExport: destination.lastExport && { ...destination.lastExport, asOf: iso(destination.lastExport.asOf) },
    secrets: destination.secrets.map((s) => ({
      id: s.id,
      createdAt: iso(s.createdAt),
      expiresAt: s.expiresAt === null ? null : iso(s.expiresAt),
    })),
    createdAt: iso(destination.createdAt),
    updatedAt: iso(destination.updatedAt),
  };
}
