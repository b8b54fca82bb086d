/**
 * JSON text that depends only on the value, never on the order its keys were set in: object
 * keys sorted (by UTF-16 code units, as JavaScript compares strings), no whitespace, arrays in
 * their order. What a privacy report's signature is computed over, so that a report read back
 * from storage or re-serialised by a client verifies as long as no value changed.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'number' && !Number.isFinite(value))
      throw new RangeError('canonicalJson: not a finite number');
    if (value === undefined || typeof value === 'function' || typeof value === 'symbol' || typeof value === 'bigint')
      throw new TypeError(`canonicalJson: ${typeof value} is not JSON`);
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, inner]) => inner !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([key, inner]) => `${JSON.stringify(key)}:${canonicalJson(inner)}`).join(',')}}`;
}
