import { z } from 'zod';

/**
 * Which source a write key belongs to. Every event's `source` and `channel` come from here,
 * never from the payload, so one key cannot pose as another touchpoint.
 *
 * `channel: 'auto'` (the local write key's default) infers the channel from the SDK that
 * sent the event: browser libraries → web, mobile libraries → mobile, anything else → server.
 */
export const channels = ['web', 'mobile', 'server', 'store', 'email', 'import'] as const;
export type Channel = (typeof channels)[number];

export interface SourceInfo {
  readonly source: string;
  readonly channel: Channel | 'auto';
}

export const sourceInfoSchema = z.object({
  source: z.string().min(1),
  channel: z.enum([...channels, 'auto']).default('auto'),
});

/** `KUMIKI_SOURCES`: JSON object from write key to `{ "source": "...", "channel": "web|…|auto" }`. */
export const sourcesSchema = z.record(z.string().min(8, 'a write key must be at least 8 characters'), sourceInfoSchema);

export type SourceMap = ReadonlyMap<string, SourceInfo>;

export function buildSourceMap(
  defaultKey: string,
  defaultSource: SourceInfo,
  configured: Readonly<Record<string, SourceInfo>>,
): SourceMap {
  return new Map<string, SourceInfo>([[defaultKey, defaultSource], ...Object.entries(configured)]);
}

const mobileLibraries = /ios|android|react-native|swift|kotlin|flutter|xamarin|unity|mobile/i;
const webLibraries = /analytics\.js|analytics-next|analytics-browser|browser|javascript|ajs/i;

/** The channel of an event from an `auto` source: the SDK's name, then Segment's own `channel` field. */
export function inferChannel(libraryName: unknown, channelHint: string | undefined): Channel {
  if (typeof libraryName === 'string') {
    if (mobileLibraries.test(libraryName)) return 'mobile';
    if (webLibraries.test(libraryName)) return 'web';
  }
  if (channelHint === 'browser' || channelHint === 'client') return 'web';
  if (channelHint === 'mobile') return 'mobile';
  return 'server';
}
