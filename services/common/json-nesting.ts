/**
 * How deep JSON may nest in an event: objects and arrays inside each other, the event itself
 * being level 1. Writing JSON out (JSON.stringify) and walking it are recursive: a value nested
 * some thousands of levels deep — a few kilobytes of `[[[[…` — overflows the stack wherever it
 * is next written, which made the collector answer 500 to it. So every door refuses events
 * nested deeper than this, each with its stable code; Segment payloads are a few levels deep.
 */
export const MAX_JSON_NESTING = 64;

/** Whether a parsed JSON value nests deeper than `limit` levels. Iterative: safe whatever the depth. */
export function nestsDeeperThan(value: unknown, limit: number): boolean {
  const pending: Array<{ value: unknown; depth: number }> = [{ value, depth: 1 }];
  for (let next = pending.pop(); next; next = pending.pop()) {
    if (next.value === null || typeof next.value !== 'object') continue;
    if (next.depth > limit) return true;
    const children: unknown[] = Array.isArray(next.value) ? next.value : Object.values(next.value);
    for (const child of children) pending.push({ value: child, depth: next.depth + 1 });
  }
  return false;
}

/** The same for JSON text, without parsing it: brackets outside string literals are counted. */
export function textNestsDeeperThan(text: string, limit: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c)
        i += 1; // backslash: the next character is escaped
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      depth += 1;
      if (depth > limit) return true;
    } else if (c === 0x7d || c === 0x5d) depth -= 1;
  }
  return false;
}

/**
 * A copy of `value` whose objects and arrays below `limit` levels are replaced by a note: what
 * can be written out of an event that nests too deep (a dead letter's original bytes, when the
 * request's own bytes are not at hand). Recursive, but never deeper than `limit`.
 */
export function cutBelow(value: unknown, limit: number, depth = 1): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (depth > limit) return `[nested deeper than ${limit} levels]`;
  if (Array.isArray(value)) return value.map((child) => cutBelow(child, limit, depth + 1));
  return Object.fromEntries(Object.entries(value).map(([key, child]) => [key, cutBelow(child, limit, depth + 1)]));
}
