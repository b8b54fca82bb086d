import type { FoundIdentifier } from '../identity/extract-identifiers';
import type { LinkRequest } from '../identity/identity-graph';
import { linkRules } from '../identity/identity-rules';

/**
 * What crosses between the stitcher's thread and its link-request threads, in shapes that
 * cost little to send. Structured cloning copies every object and every view's whole
 * underlying buffer, so a batch's record values (views into fetch responses) travel as one
 * buffer of their own, handed over rather than copied, and its link requests come back as
 * typed arrays and one flat array of strings rather than an object per event and identifier.
 */

/** A batch's record values, back to back. */
export interface PackedValues {
  readonly bytes: Uint8Array;
  /** End of record i's value in `bytes` (its start is the previous end). */
  readonly ends: Uint32Array;
}

export function packValues(values: readonly (Buffer | null)[]): PackedValues {
  let total = 0;
  for (const value of values) total += value?.length ?? 0;
  // An ArrayBuffer of its own (Buffer.allocUnsafe may hand out a slice of the shared pool).
  const bytes = new Uint8Array(total);
  const ends = new Uint32Array(values.length);
  let at = 0;
  values.forEach((value, i) => {
    if (value) {
      bytes.set(value, at);
      at += value.length;
    }
    ends[i] = at;
  });
  return { bytes, ends };
}

/** Record i's value as a Buffer view (no copy); empty for a null value. */
export function valueAt(packed: PackedValues, i: number): Buffer {
  const start = i === 0 ? 0 : packed.ends[i - 1]!;
  return Buffer.from(packed.bytes.buffer, packed.bytes.byteOffset + start, packed.ends[i]! - start);
}

/** A batch's link requests; a record without one is left to the stitcher's thread. */
export interface PackedRequests {
  /** Per record: 0 none, else RULE_* | HAS_PREVIOUS_ID. */
  readonly flags: Uint8Array;
  readonly eventTimes: Float64Array;
  readonly receivedAts: Float64Array;
  readonly identifierCounts: Uint32Array;
  /** Per request in order: messageId, previousId (when flagged), then type and value of each identifier. */
  readonly strings: string[];
}

const RULE_SAME_EVENT = 1;
const RULE_ALIAS = 2;
const RULE_MASK = 3;
const HAS_PREVIOUS_ID = 4;

export class RequestPacker {
  private readonly flags: Uint8Array;
  private readonly eventTimes: Float64Array;
  private readonly receivedAts: Float64Array;
  private readonly identifierCounts: Uint32Array;
  private readonly strings: string[] = [];

  constructor(records: number) {
    this.flags = new Uint8Array(records);
    this.eventTimes = new Float64Array(records);
    this.receivedAts = new Float64Array(records);
    this.identifierCounts = new Uint32Array(records);
  }

  /** Record i's request; records never set have none. */
  set(i: number, request: LinkRequest): void {
    const rule =
      request.rule === linkRules.sameEvent ? RULE_SAME_EVENT : request.rule === linkRules.alias ? RULE_ALIAS : 0;
    // Only the two rules an event can carry are packed; anything else stays with the caller.
    if (rule === 0) return;
    this.flags[i] = rule | (request.previousId === undefined ? 0 : HAS_PREVIOUS_ID);
    this.eventTimes[i] = request.eventTime;
    this.receivedAts[i] = request.receivedAt;
    this.identifierCounts[i] = request.identifiers.length;
    this.strings.push(request.messageId);
    if (request.previousId !== undefined) this.strings.push(request.previousId);
    for (const { type, value } of request.identifiers) this.strings.push(type, value);
  }

  finish(): PackedRequests {
    return {
      flags: this.flags,
      eventTimes: this.eventTimes,
      receivedAts: this.receivedAts,
      identifierCounts: this.identifierCounts,
      strings: this.strings,
    };
  }
}

/** The typed arrays' buffers, to hand over with postMessage. */
export function transferablesOf(packed: PackedRequests | PackedValues): ArrayBuffer[] {
  const views =
    'flags' in packed
      ? [packed.flags, packed.eventTimes, packed.receivedAts, packed.identifierCounts]
      : [packed.bytes, packed.ends];
  return views.map((view) => view.buffer as ArrayBuffer);
}

export function unpackRequests(packed: PackedRequests): (LinkRequest | undefined)[] {
  const { flags, eventTimes, receivedAts, identifierCounts, strings } = packed;
  const requests = new Array<LinkRequest | undefined>(flags.length);
  let at = 0;
  for (let i = 0; i < flags.length; i++) {
    const flag = flags[i]!;
    if (flag === 0) continue;
    const messageId = strings[at++]!;
    const previousId = flag & HAS_PREVIOUS_ID ? strings[at++] : undefined;
    const identifiers = new Array<FoundIdentifier>(identifierCounts[i]!);
    for (let k = 0; k < identifiers.length; k++) identifiers[k] = { type: strings[at++]!, value: strings[at++]! };
    requests[i] = {
      messageId,
      eventTime: eventTimes[i]!,
      receivedAt: receivedAts[i]!,
      rule: (flag & RULE_MASK) === RULE_ALIAS ? linkRules.alias : linkRules.sameEvent,
      identifiers,
      previousId,
    };
  }
  return requests;
}
