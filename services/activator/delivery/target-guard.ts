import dns, { type LookupAddress, type LookupOptions } from 'node:dns';
import net from 'node:net';

/**
 * Webhook targets on loopback, private, link-local or otherwise internal addresses are refused
 * unless allowed (ACTIVATOR_ALLOW_PRIVATE_TARGETS): a destination URL must not become a way to
 * reach the activator's own network. Checked when a destination is saved, and again at every
 * connection (the name is resolved here, so a DNS answer that changes cannot slip past).
 */
const blockedV4: readonly [string, number][] = [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
];

function v4ToInt(address: string): number {
  return address.split('.').reduce((acc, part) => (acc << 8) + Number(part), 0) >>> 0;
}

export function isPrivateAddress(address: string): boolean {
  if (net.isIPv4(address)) {
    const value = v4ToInt(address);
    return blockedV4.some(([base, bits]) => {
      const mask = bits === 0 ? 0 : (~0 << (32 - bits)) >>> 0;
      return (value & mask) === (v4ToInt(base) & mask);
    });
  }
  if (net.isIPv6(address)) {
    const lower = address.toLowerCase();
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(lower);
    if (mapped) return isPrivateAddress(mapped[1]!);
    return (
      lower === '::' ||
      lower === '::1' ||
      /^f[cd][0-9a-f]{2}:/.test(lower) || // unique local fc00::/7
      /^fe[89ab][0-9a-f]:/.test(lower) || // link-local fe80::/10
      /^ff[0-9a-f]{2}:/.test(lower) // multicast
    );
  }
  return false;
}

export class PrivateTargetError extends Error {
  readonly code = 'KUMIKI_PRIVATE_TARGET';
  constructor(host: string, address: string) {
    super(
      `${host} is ${address === host ? 'a' : `resolved to ${address}, a`} loopback or private address; such targets need ACTIVATOR_ALLOW_PRIVATE_TARGETS=true`,
    );
    this.name = 'PrivateTargetError';
  }
}

type LookupCallback = (error: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/** A `lookup` for http(s) agents that refuses private addresses unless allowed. */
export function guardedLookup(allowPrivate: boolean) {
  return (hostname: string, options: LookupOptions, callback: LookupCallback): void => {
    dns.lookup(hostname, { ...options, all: true }, (error, addresses) => {
      if (error) return callback(error, []);
      const blocked = allowPrivate ? undefined : addresses.find((a) => isPrivateAddress(a.address));
      if (blocked) return callback(new PrivateTargetError(hostname, blocked.address), []);
      if (options.all) return callback(null, addresses);
      const first = addresses[0];
      if (!first) return callback(Object.assign(new Error(`${hostname} has no address`), { code: 'ENOTFOUND' }), []);
      callback(null, first.address, first.family);
    });
  };
}

/** Checks a target before it is saved: a private literal address, or a name resolving to one, is refused unless allowed. */
export async function checkTarget(url: URL, allowPrivate: boolean): Promise<string | undefined> {
  if (allowPrivate) return undefined;
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (net.isIP(host)) return isPrivateAddress(host) ? new PrivateTargetError(host, host).message : undefined;
  if (host === 'localhost' || host.endsWith('.localhost')) return new PrivateTargetError(host, '127.0.0.1').message;
  try {
    const addresses = await dns.promises.lookup(host, { all: true });
    const blocked = addresses.find((a) => isPrivateAddress(a.address));
    return blocked ? new PrivateTargetError(host, blocked.address).message : undefined;
  } catch {
    // A name that does not resolve now may later; delivery retries and pauses as for any outage.
    return undefined;
  }
}
