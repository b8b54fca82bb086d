import { hash } from 'node:crypto';
import type { Identifier, IdentityChange, IdentityGraphRecord } from '../../../schemas';
import { mayFold } from '../../common/identifier-text';
import type { FoundIdentifier } from './extract-identifiers';
import { IdentifierTypes } from './identifier-types';
import { MAX_IDENTIFIER_TYPES, type IdentityRules } from './identity-rules';
import { IdentifierNormaliser } from './normalise';

/** What one event asks of the graph. */
export interface LinkRequest {
  readonly messageId: string;
  /** Event time, epoch ms: provenance of links, and the creation time of a new profile. */
  readonly eventTime: number;
  /** When the collector or importer received the event, epoch ms (an erased person's replayed events are told by it). */
  readonly receivedAt: number;
  /** `same-event` or `alias` (see `linkRules`). */
  readonly rule: string;
  readonly identifiers: readonly FoundIdentifier[];
  /** previousId of an alias call; typed by the graph (a known user_id, else an anonymous_id). */
  readonly previousId?: string | undefined;
}

/** A change as the graph decides it; the service stamps `changedAt` when it publishes it. */
export type IdentityChangeDraft = Omit<IdentityChange, 'changedAt'>;

export interface Refusal {
  readonly identifier: Identifier;
  /** The type whose per-profile limit the link would have broken (for metrics). */
  readonly limitType: string;
  readonly reason: string;
}

export interface Resolution {
  readonly profileId: string;
  readonly createdProfile: boolean;
  /** The event's identifiers that are (now) in the profile, strongest first. */
  readonly linked: Identifier[];
  readonly mergedProfileIds: readonly string[];
  readonly refusals: readonly Refusal[];
  /** link, merge and refused records with provenance, in that order. */
  readonly changes: readonly IdentityChangeDraft[];
  /** New state of every identifier whose profile changed (the compacted changelog). */
  readonly graphRecords: readonly IdentityGraphRecord[];
}

export interface LinkedIdentifier extends Identifier {
  readonly linkedBy: string;
  readonly linkedAt: number;
  readonly rule: string;
}

export interface ProfileView {
  readonly profileId: string;
  readonly createdAt: number;
  readonly identifiers: LinkedIdentifier[];
}

/**
 * The deterministic identity graph: which profile each identifier belongs to.
 *
 * Rules (issue 4):
 * - An event links all its identifiers. None known → a new profile; known in one profile →
 *   it grows; known in several → they merge into the OLDEST (smallest createdAt, then id),
 *   and every identifier of an absorbed profile is moved to the survivor at once (flat: an
 *   identifier always points at a live profile, never at an alias of one).
 * - Limits: identifiers are considered strongest first (priority, then type name, then
 *   value — never the order they were found in, so the outcome depends only on content).
 *   Each is accepted if the profile being assembled can take it (its own profile merged in
 *   whole, or the new identifier alone) without any type exceeding its per-profile limit;
 *   otherwise it is refused, recorded with the reason, and its profile is left alone. The
 *   strongest identifier is always accepted, so the highest-priority identifier decides
 *   the profile.
 * - Profile ids derive from content: hash(messageId, strongest new identifier). Same events
 *   in the same order → same ids, same merges, same records.
 *
 * Memory (the graph must hold tens of millions of identifiers in one process): no object
 * per identifier. Values are interned in per-type Maps (value → slot); everything else
 * about a slot lives in typed arrays (profile, type, rule, link time, next-in-profile) plus
 * two string arrays that share the value and messageId strings already held elsewhere.
 * Profiles are slots too: id, creation time, a singly linked list of members through
 * `idNext` (head/tail/size), and per-type counts in a fixed-stride Uint16Array so a limit
 * check costs O(types), not O(members).
 *
 * Spellings stored under older normalisation rules (docs/identity-stitcher.md, "Unicode
 * normalisation"): an identifier restored from the changelog whose value the current rules
 * would spell differently (a user id `ＡＢＣ１２３` stored before NFKC folding) keeps its stored
 * spelling, which is its changelog key, and is also found under its current spelling (`ABC123`).
 * An event carrying either spelling therefore joins the profile that already holds it, and no
 * second identifier is linked for the same value. When the current spelling is itself stored,
 * that identifier wins; when several stored spellings fold to one, the oldest profile's wins.
 */
export class IdentityGraph {
  readonly types: IdentifierTypes;

  // value → identifier slot, one Map per (type, shard): V8 Maps stop at 2^24 entries.
  private readonly index: Map<string, number>[][] = [];

  // Identifier slots.
  private idCount = 0;
  private idCapacity: number;
  private idProfile: Int32Array;
  private idNext: Int32Array;
  private idType: Uint8Array;
  private idRule: Uint8Array;
  private idLinkedAt: Float64Array;
  private readonly idValue: string[] = [];
  private readonly idLinkedBy: string[] = [];

  // Profile slots.
  private profCount = 0;
  private profCapacity: number;
  private liveProfiles = 0;
  private profCreatedAt: Float64Array;
  private profHead: Int32Array;
  private profTail: Int32Array;
  private profSize: Int32Array;
  private profCounts: Uint16Array;
  private readonly profId: string[] = [];

  // Current spelling → slot of an identifier stored under another spelling, per type; built by finishRestore.
  private readonly respelled: (Map<string, number> | undefined)[] = [];
  private respelledIdentifiers = 0;
  private readonly normaliser: IdentifierNormaliser;

  private readonly ruleNames: string[] = [];
  private readonly ruleIndex = new Map<string, number>();
  private readonly scratchCounts = new Uint16Array(STRIDE);

  // Restore-only state: profile id per slot until `finishRestore` builds the profiles.
  private restoring:
    | { profileOf: (string | undefined)[]; createdAt: Map<string, number>; messageIds: Map<string, string> }
    | undefined;

  constructor(rules: IdentityRules, initialCapacity = 1024) {
    this.types = new IdentifierTypes(rules);
    this.normaliser = new IdentifierNormaliser(rules);
    this.idCapacity = Math.max(16, initialCapacity);
    this.idProfile = new Int32Array(this.idCapacity);
    this.idNext = new Int32Array(this.idCapacity);
    this.idType = new Uint8Array(this.idCapacity);
    this.idRule = new Uint8Array(this.idCapacity);
    this.idLinkedAt = new Float64Array(this.idCapacity);
    this.profCapacity = Math.max(16, initialCapacity >> 1);
    this.profCreatedAt = new Float64Array(this.profCapacity);
    this.profHead = new Int32Array(this.profCapacity);
    this.profTail = new Int32Array(this.profCapacity);
    this.profSize = new Int32Array(this.profCapacity);
    this.profCounts = new Uint16Array(this.profCapacity * STRIDE);
  }

  /** Stored identifiers also found under the spelling the current rules give them. */
  get respelledCount(): number {
    return this.respelledIdentifiers;
  }

  /** Identifiers currently in the graph. */
  get identifierCount(): number {
    return this.index.reduce((sum, shards) => sum + shards.reduce((inner, map) => inner + map.size, 0), 0);
  }

  /** Profiles that hold at least one identifier (merged-away profiles are not counted). */
  get profileCount(): number {
    return this.liveProfiles;
  }

  /** Profile id of an identifier, if the graph knows it. */
  profileIdOf(type: string, value: string): string | undefined {
    const slot = this.lookup(type, value);
    return slot === undefined ? undefined : this.profId[this.idProfile[slot]!];
  }

  /** The profile holding an identifier, with every identifier's link provenance. */
  profileOf(type: string, value: string): ProfileView | undefined {
    const slot = this.lookup(type, value);
    if (slot === undefined) return undefined;
    const profile = this.idProfile[slot]!;
    const identifiers: LinkedIdentifier[] = [];
    for (let s = this.profHead[profile]!; s !== NONE; s = this.idNext[s]!) {
      identifiers.push({
        type: this.types.names[this.idType[s]!]!,
        value: this.idValue[s]!,
        linkedBy: this.idLinkedBy[s]!,
        linkedAt: this.idLinkedAt[s]!,
        rule: this.ruleNames[this.idRule[s]!]!,
      });
    }
    // Member order depends on merge history; explain in link order, which does not.
    identifiers.sort((a, b) => a.linkedAt - b.linkedAt || compare(a.type, b.type) || compare(a.value, b.value));
    return { profileId: this.profId[profile]!, createdAt: this.profCreatedAt[profile]!, identifiers };
  }

  /**
   * Forgets the profile holding an identifier, with every identifier in it (a privacy erase):
   * their values leave the index and the slots' strings are dropped, so the graph keeps nothing
   * of the person, and a later event with one of those identifiers starts a new profile. Returns
   * what was forgotten (the caller writes a tombstone per identifier), or undefined when no
   * profile holds the identifier.
   */
  forgetProfileOf(type: string, value: string): ProfileView | undefined {
    const view = this.profileOf(type, value);
    if (view === undefined) return undefined;
    const profile = this.idProfile[this.lookup(type, value)!]!;
    for (let s = this.profHead[profile]!, next = NONE; s !== NONE; s = next) {
      next = this.idNext[s]!;
      this.forgetCurrentSpelling(s);
      this.shardFor(this.idType[s]!, this.idValue[s]!).delete(this.idValue[s]!);
      this.idProfile[s] = NONE;
      this.idNext[s] = NONE;
      this.idValue[s] = '';
      this.idLinkedBy[s] = '';
    }
    this.profCounts.fill(0, profile * STRIDE, (profile + 1) * STRIDE);
    this.profHead[profile] = NONE;
    this.profTail[profile] = NONE;
    this.profSize[profile] = 0;
    this.profId[profile] = '';
    this.liveProfiles -= 1;
    return view;
  }

  /** A forgotten identifier stored under an older spelling is no longer found under its current one. */
  private forgetCurrentSpelling(slot: number): void {
    const type = this.idType[slot]!;
    const respelled = this.respelled[type];
    if (!respelled) return;
    const current = this.normaliser.spell(this.types.names[type]!, this.idValue[slot]!);
    if (current !== undefined && respelled.get(current) === slot) {
      respelled.delete(current);
      this.respelledIdentifiers -= 1;
    }
  }

  /** Calls `visit` with the id of every live profile (profiles holding at least one identifier). */
  forEachProfile(visit: (profileId: string) => void): void {
    for (let profile = 0; profile < this.profCount; profile++)
      if (this.profSize[profile]! > 0) visit(this.profId[profile]!);
  }

  /** Every identifier → profile id, sorted; for tests and consistency checks. */
  snapshot(): Map<string, string> {
    const out: [string, string][] = [];
    this.index.forEach((shards, type) => {
      for (const map of shards) {
        for (const [value, slot] of map)
          out.push([`${this.types.names[type]}:${value}`, this.profId[this.idProfile[slot]!]!]);
      }
    });
    out.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    return new Map(out);
  }

  /**
   * Applies the rules to one event's identifiers. Returns undefined when the event has no
   * identifier the graph can use (the caller dead-letters it).
   */
  resolve(request: LinkRequest): Resolution | undefined {
    if (this.restoring) throw new Error('identity graph: resolve() during restore');
    const candidates = this.candidates(request);
    if (candidates.length === 0) return undefined;
    const known = this.knownInOneProfile(candidates);
    if (known !== undefined) return known;

    // Assemble the profile, strongest identifier first.
    const counts = this.scratchCounts;
    counts.fill(0);
    const included: number[] = [];
    const accepted: Candidate[] = [];
    const fresh: Candidate[] = [];
    const refusals: Refusal[] = [];
    for (const candidate of candidates) {
      const { profile, type } = candidate;
      if (profile !== NONE) {
        if (included.includes(profile)) {
          accepted.push(candidate);
          continue;
        }
        const breach = accepted.length === 0 ? undefined : this.breachWithProfile(counts, profile);
        if (breach === undefined) {
          included.push(profile);
          const base = profile * STRIDE;
          for (let t = 0; t < STRIDE; t++) counts[t]! += this.profCounts[base + t]!;
          accepted.push(candidate);
        } else {
          refusals.push(
            this.refusal(
              candidate,
              breach,
              counts[breach]! + this.profCounts[profile * STRIDE + breach]!,
              this.profId[profile]!,
            ),
          );
        }
      } else if (counts[type]! + 1 > this.types.limits[type]!) {
        refusals.push(this.refusal(candidate, type, counts[type]! + 1, undefined));
      } else {
        counts[type]! += 1;
        accepted.push(candidate);
        fresh.push(candidate);
      }
    }

    // The survivor: the oldest included profile, or a new one.
    let survivor: number;
    let createdProfile = false;
    if (included.length > 0) {
      included.sort((a, b) => this.compareAge(a, b));
      survivor = included[0]!;
    } else {
      const first = fresh[0]!;
      survivor = this.newProfile(
        profileIdFor(request.messageId, this.types.names[first.type]!, first.value),
        request.eventTime,
      );
      createdProfile = true;
    }
    const survivorId = this.profId[survivor]!;
    const survivorCreatedAt = this.profCreatedAt[survivor]!;
    const graphRecords: IdentityGraphRecord[] = [];
    const changes: IdentityChangeDraft[] = [];
    const provenance = { messageId: request.messageId, eventTime: request.eventTime };

    const absorbed = included.slice(1);
    const mergedProfileIds = absorbed.map((profile) => this.profId[profile]!);
    for (const profile of absorbed) this.absorb(survivor, profile, graphRecords);
    if (absorbed.length > 0) {
      changes.push({
        changeId: changeIdFor(request.messageId, 'merge', 0),
        kind: 'merge',
        profileId: survivorId,
        absorbedProfileIds: mergedProfileIds,
        identifiers: accepted.filter((c) => c.profile !== NONE).map((c) => c.identifier),
        rule: request.rule,
        reason: null,
        ...provenance,
      });
    }

    if (fresh.length > 0) {
      const ruleIndex = this.internRule(request.rule);
      for (const candidate of fresh) {
        this.newIdentifier(candidate.type, candidate.value, survivor, ruleIndex, request.messageId, request.eventTime);
        graphRecords.push({
          identifier: candidate.identifier,
          profileId: survivorId,
          profileCreatedAt: survivorCreatedAt,
          linkedBy: request.messageId,
          linkedAt: request.eventTime,
          rule: request.rule,
        });
      }
      changes.push({
        changeId: changeIdFor(request.messageId, 'link', 0),
        kind: 'link',
        profileId: survivorId,
        absorbedProfileIds: [],
        identifiers: fresh.map((c) => c.identifier),
        rule: request.rule,
        reason: null,
        ...provenance,
      });
    }

    refusals.forEach((refusal, i) => {
      changes.push({
        changeId: changeIdFor(request.messageId, 'refused', i),
        kind: 'refused',
        profileId: survivorId,
        absorbedProfileIds: [],
        identifiers: [refusal.identifier],
        rule: request.rule,
        reason: refusal.reason,
        ...provenance,
      });
    });

    return {
      profileId: survivorId,
      createdProfile,
      linked: accepted.map((c) => c.identifier),
      mergedProfileIds,
      refusals,
      changes,
      graphRecords,
    };
  }

  /**
   * Most events come from someone the graph already knows, by identifiers already in their
   * profile: nothing changes, and the general path's bookkeeping is skipped. Undefined unless
   * every candidate is in the same profile.
   */
  private knownInOneProfile(candidates: readonly Candidate[]): Resolution | undefined {
    const profile = candidates[0]!.profile;
    if (profile === NONE) return undefined;
    for (const candidate of candidates) if (candidate.profile !== profile) return undefined;
    const linked = new Array<Identifier>(candidates.length);
    for (let i = 0; i < candidates.length; i++) linked[i] = candidates[i]!.identifier;
    return {
      profileId: this.profId[profile]!,
      createdProfile: false,
      linked,
      mergedProfileIds: NOTHING,
      refusals: NOTHING,
      changes: NOTHING,
      graphRecords: NOTHING,
    };
  }

  // ---- Restore from the compacted changelog ------------------------------------------------

  /**
   * Replays one `kumiki.identity.graph` record (latest per key wins, as compaction keeps).
   * Call `finishRestore()` once every record up to the committed end has been applied.
   */
  restoreRecord(record: IdentityGraphRecord): void {
    const restoring = (this.restoring ??= this.beginRestore());
    const type = this.types.indexOf(record.identifier.type);
    if (type === undefined) return;
    // Identifiers linked by one event share its messageId string, as they do when live.
    let linkedBy = restoring.messageIds.get(record.linkedBy);
    if (linkedBy === undefined) {
      linkedBy = record.linkedBy;
      restoring.messageIds.set(linkedBy, linkedBy);
    }
    let slot = this.lookup(record.identifier.type, record.identifier.value);
    if (slot === undefined)
      slot = this.newIdentifier(
        type,
        record.identifier.value,
        NONE,
        this.internRule(record.rule),
        linkedBy,
        record.linkedAt,
      );
    else {
      this.idRule[slot] = this.internRule(record.rule);
      this.idLinkedBy[slot] = linkedBy;
      this.idLinkedAt[slot] = record.linkedAt;
    }
    restoring.profileOf[slot] = record.profileId;
    restoring.createdAt.set(record.profileId, record.profileCreatedAt);
  }

  /** A tombstone: the identifier is forgotten. */
  restoreTombstone(identifier: Identifier): void {
    const restoring = (this.restoring ??= this.beginRestore());
    const type = this.types.indexOf(identifier.type);
    if (type === undefined) return;
    const slot = this.lookup(identifier.type, identifier.value);
    if (slot === undefined) return;
    this.shardFor(type, identifier.value).delete(identifier.value);
    restoring.profileOf[slot] = undefined;
    this.idValue[slot] = '';
    this.idLinkedBy[slot] = '';
  }

  /** Builds profiles (members, counts) from the restored identifier → profile id records. */
  finishRestore(): void {
    const restoring = this.restoring;
    if (!restoring) return;
    this.restoring = undefined;
    const profileSlot = new Map<string, number>();
    for (let slot = 0; slot < this.idCount; slot++) {
      const profileId = restoring.profileOf[slot];
      if (profileId === undefined) {
        this.idProfile[slot] = NONE; // forgotten: the slot stays unused
        continue;
      }
      let profile = profileSlot.get(profileId);
      if (profile === undefined) {
        profile = this.newProfile(profileId, restoring.createdAt.get(profileId)!);
        profileSlot.set(profileId, profile);
      }
      this.attach(slot, profile);
    }
    this.indexCurrentSpellings();
  }

  /** See "Spellings stored under older normalisation rules" above. */
  private indexCurrentSpellings(): void {
    for (let slot = 0; slot < this.idCount; slot++) {
      const stored = this.idValue[slot]!;
      const profile = this.idProfile[slot]!;
      if (profile === NONE || !mayFold(stored)) continue;
      const type = this.idType[slot]!;
      const current = this.normaliser.spell(this.types.names[type]!, stored);
      if (current === undefined || current === stored || this.indexedSlot(type, current) !== undefined) continue;
      const respelled = (this.respelled[type] ??= new Map());
      const rival = respelled.get(current);
      if (rival !== undefined && this.compareAge(this.idProfile[rival]!, profile) <= 0) continue;
      if (rival === undefined) this.respelledIdentifiers += 1;
      respelled.set(current, slot);
    }
  }

  // ---- Internals --------------------------------------------------------------------------

  private beginRestore(): NonNullable<IdentityGraph['restoring']> {
    if (this.idCount > 0) throw new Error('identity graph: restore into a graph that already holds identifiers');
    return { profileOf: [], createdAt: new Map(), messageIds: new Map() };
  }

  /**
   * The request's distinct identifiers with their current profiles, strongest first (equal ones
   * then sit side by side, and only the first is kept). A handful is sorted by insertion,
   * without a sort callback or a Set: this runs for every event. Many (a crafted event) go
   * through Array.prototype.sort, so they cannot cost quadratic time. The array is sized up
   * front: growing by push starts at 17 slots, three times what an event usually needs.
   */
  private candidates(request: LinkRequest): Candidate[] {
    const { identifiers, previousId } = request;
    const out = new Array<Candidate>(identifiers.length + (previousId === undefined ? 0 : 1));
    let count = 0;
    for (const identifier of identifiers)
      count = this.putCandidate(out, count, identifier.type, identifier.value, identifier);
    if (previousId !== undefined) {
      // An alias's previousId is an earlier user id if the graph knows it as one; otherwise
      // the anonymous id the person had before identifying (Segment's usual case).
      count = this.putCandidate(
        out,
        count,
        this.lookup('user_id', previousId) !== undefined ? 'user_id' : 'anonymous_id',
        previousId,
        undefined,
      );
    }
    out.length = count;
    if (out.length > INSERTION_SORT_LIMIT) out.sort((a, b) => this.order(a, b));
    else {
      for (let i = 1; i < out.length; i++) {
        const candidate = out[i]!;
        let at = i;
        for (; at > 0 && this.order(candidate, out[at - 1]!) < 0; at--) out[at] = out[at - 1]!;
        out[at] = candidate;
      }
    }
    let kept = Math.min(1, out.length);
    for (let i = 1; i < out.length; i++) {
      const candidate = out[i]!;
      const previous = out[kept - 1]!;
      if (previous.type !== candidate.type || previous.value !== candidate.value) out[kept++] = candidate;
    }
    if (kept < out.length) out.length = kept;
    return out;
  }

  /** Writes the identifier's candidate at `at` if its type is known; returns the next free index. */
  private putCandidate(
    out: Candidate[],
    at: number,
    typeName: string,
    value: string,
    identifier: Identifier | undefined,
  ): number {
    const type = this.types.indexOf(typeName);
    if (type === undefined) return at;
    const slot = this.slotOf(type, value);
    out[at] = {
      type,
      value,
      profile: slot === undefined ? NONE : this.idProfile[slot]!,
      identifier: identifier ?? { type: typeName, value },
    };
    return at + 1;
  }

  /** Strength order: priority, then type name, then value. */
  private order(a: Candidate, b: Candidate): number {
    const { priorities, names } = this.types;
    return (
      priorities[a.type]! - priorities[b.type]! || compare(names[a.type]!, names[b.type]!) || compare(a.value, b.value)
    );
  }

  /** First type whose limit the union of `counts` and `profile` would exceed, if any. */
  private breachWithProfile(counts: Uint16Array, profile: number): number | undefined {
    const base = profile * STRIDE;
    const limits = this.types.limits;
    for (let t = 0; t < limits.length; t++) {
      if (counts[t]! + this.profCounts[base + t]! > limits[t]!) return t;
    }
    return undefined;
  }

  private refusal(
    candidate: Candidate,
    limitType: number,
    wouldHold: number,
    otherProfile: string | undefined,
  ): Refusal {
    const typeName = this.types.names[limitType]!;
    const limit = this.types.limits[limitType]!;
    const what = otherProfile === undefined ? 'linking it' : `merging its profile ${otherProfile}`;
    return {
      identifier: candidate.identifier,
      limitType: typeName,
      reason: `${typeName} limit ${limit} exceeded: ${what} would give the profile ${wouldHold} ${typeName} identifiers`,
    };
  }

  /** Moves every identifier of `absorbed` into `survivor` and retires `absorbed`. */
  private absorb(survivor: number, absorbed: number, graphRecords: IdentityGraphRecord[]): void {
    const survivorId = this.profId[survivor]!;
    const createdAt = this.profCreatedAt[survivor]!;
    const head = this.profHead[absorbed]!;
    for (let s = head; s !== NONE; s = this.idNext[s]!) {
      this.idProfile[s] = survivor;
      graphRecords.push({
        identifier: { type: this.types.names[this.idType[s]!]!, value: this.idValue[s]! },
        profileId: survivorId,
        profileCreatedAt: createdAt,
        linkedBy: this.idLinkedBy[s]!,
        linkedAt: this.idLinkedAt[s]!,
        rule: this.ruleNames[this.idRule[s]!]!,
      });
    }
    if (head !== NONE) {
      if (this.profHead[survivor] === NONE) this.profHead[survivor] = head;
      else this.idNext[this.profTail[survivor]!] = head;
      this.profTail[survivor] = this.profTail[absorbed]!;
    }
    this.profSize[survivor]! += this.profSize[absorbed]!;
    const sBase = survivor * STRIDE;
    const aBase = absorbed * STRIDE;
    for (let t = 0; t < STRIDE; t++) {
      this.profCounts[sBase + t]! += this.profCounts[aBase + t]!;
      this.profCounts[aBase + t] = 0;
    }
    this.profHead[absorbed] = NONE;
    this.profTail[absorbed] = NONE;
    this.profSize[absorbed] = 0;
    this.liveProfiles -= 1;
  }

  private compareAge(a: number, b: number): number {
    return this.profCreatedAt[a]! - this.profCreatedAt[b]! || compare(this.profId[a]!, this.profId[b]!);
  }

  private newProfile(id: string, createdAt: number): number {
    if (this.profCount === this.profCapacity) this.growProfiles();
    const profile = this.profCount++;
    this.profId.push(id);
    this.profCreatedAt[profile] = createdAt;
    this.profHead[profile] = NONE;
    this.profTail[profile] = NONE;
    this.profSize[profile] = 0;
    this.liveProfiles += 1;
    return profile;
  }

  private newIdentifier(
    type: number,
    value: string,
    profile: number,
    rule: number,
    linkedBy: string,
    linkedAt: number,
  ): number {
    if (this.idCount === this.idCapacity) this.growIdentifiers();
    const slot = this.idCount++;
    this.idType[slot] = type;
    this.idRule[slot] = rule;
    this.idLinkedAt[slot] = linkedAt;
    this.idNext[slot] = NONE;
    this.idProfile[slot] = NONE;
    this.idValue.push(value);
    this.idLinkedBy.push(linkedBy);
    this.shardFor(type, value).set(value, slot);
    if (profile !== NONE) this.attach(slot, profile);
    return slot;
  }

  private attach(slot: number, profile: number): void {
    this.idProfile[slot] = profile;
    this.idNext[slot] = NONE;
    if (this.profHead[profile] === NONE) this.profHead[profile] = slot;
    else this.idNext[this.profTail[profile]!] = slot;
    this.profTail[profile] = slot;
    this.profSize[profile]! += 1;
    this.profCounts[profile * STRIDE + this.idType[slot]!]! += 1;
  }

  private lookup(typeName: string, value: string): number | undefined {
    const type = this.types.isKnown(typeName) ? this.types.indexOf(typeName)! : undefined;
    return type === undefined ? undefined : this.slotOf(type, value);
  }

  private slotOf(type: number, value: string): number | undefined {
    const slot = this.indexedSlot(type, value);
    if (slot !== undefined || this.respelledIdentifiers === 0) return slot;
    return this.respelled[type]?.get(value);
  }

  private indexedSlot(type: number, value: string): number | undefined {
    return this.index[type]?.[shardOf(value)]?.get(value);
  }

  private shardFor(type: number, value: string): Map<string, number> {
    let shards = this.index[type];
    if (!shards) {
      shards = Array.from({ length: SHARDS }, () => new Map<string, number>());
      this.index[type] = shards;
    }
    return shards[shardOf(value)]!;
  }

  private internRule(rule: string): number {
    let index = this.ruleIndex.get(rule);
    if (index === undefined) {
      if (this.ruleNames.length >= 255) throw new Error('identity graph: more than 255 distinct rule names');
      index = this.ruleNames.length;
      this.ruleNames.push(rule);
      this.ruleIndex.set(rule, index);
    }
    return index;
  }

  private growIdentifiers(): void {
    const capacity = this.idCapacity * 2;
    this.idProfile = grow(this.idProfile, new Int32Array(capacity));
    this.idNext = grow(this.idNext, new Int32Array(capacity));
    this.idType = grow(this.idType, new Uint8Array(capacity));
    this.idRule = grow(this.idRule, new Uint8Array(capacity));
    this.idLinkedAt = grow(this.idLinkedAt, new Float64Array(capacity));
    this.idCapacity = capacity;
  }

  private growProfiles(): void {
    const capacity = this.profCapacity * 2;
    this.profCreatedAt = grow(this.profCreatedAt, new Float64Array(capacity));
    this.profHead = grow(this.profHead, new Int32Array(capacity));
    this.profTail = grow(this.profTail, new Int32Array(capacity));
    this.profSize = grow(this.profSize, new Int32Array(capacity));
    this.profCounts = grow(this.profCounts, new Uint16Array(capacity * STRIDE));
    this.profCapacity = capacity;
  }
}

interface Candidate {
  readonly type: number;
  readonly value: string;
  readonly profile: number;
  /** The identifier as the event gave it (type name and value), shared by every output that names it. */
  readonly identifier: Identifier;
}

const NONE = -1;
/**
 * Shared by the resolutions of events that change nothing (most of them); readonly in its type,
 * not frozen (loops over a frozen array allocate an iterator each).
 */
const NOTHING: readonly never[] = [];
const STRIDE = MAX_IDENTIFIER_TYPES;
const SHARDS = 16;
const INSERTION_SORT_LIMIT = 16;

function grow<T extends Int32Array | Uint8Array | Uint16Array | Float64Array>(from: T, to: T): T {
  to.set(from as never);
  return to;
}

/** FNV-1a over the value's last 16 characters: spreads a type's values over the shards. */
function shardOf(value: string): number {
  let hash = 0x811c9dc5;
  for (let i = Math.max(0, value.length - 16); i < value.length; i++) {
    hash ^= value.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0) & (SHARDS - 1);
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Deterministic profile id: the creating event and its strongest identifier. */
export function profileIdFor(messageId: string, type: string, value: string): string {
  return `p_${sha256Hex(`${messageId}\u0000${type}:${value}`).slice(0, 24)}`;
}

/** Deterministic change id: the same event yields the same ids, so consumers can deduplicate. */
export function changeIdFor(messageId: string, kind: string, index: number): string {
  return `c_${sha256Hex(`${messageId}\u0000${kind}\u0000${index}`).slice(0, 24)}`;
}

/** One-shot: half the cost of a Hash object per id, and a merge-heavy stream makes many ids. */
function sha256Hex(text: string): string {
  return hash('sha256', text, 'hex');
}
