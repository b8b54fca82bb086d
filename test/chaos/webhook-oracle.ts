import { readFileSync } from 'node:fs';
import type { DeliveryAttempt, SegmentChange } from '../../schemas';
import { webhookId } from '../../services/common/webhook-signature';

/**
 * What the activator must have done for the run's webhook destination (docs/chaos.md): every
 * segment change on the topic either reached the receiver (at least once; duplicates allowed,
 * each webhook-id always with the same body) or is logged `withheld` on the delivery log —
 * never neither — and each profile's changes first reached the receiver in the order of their
 * offsets.
 */
export interface WebhookCheck {
  /** Segment changes on the topic (every one is subscribed to). */
  readonly changes: number;
  /** Changes whose webhook-id the receiver recorded. */
  readonly delivered: number;
  /** Changes logged `withheld` and never received. */
  readonly withheld: number;
  /** Changes neither received nor withheld (described). */
  readonly undelivered: readonly string[];
  /** Receipts beyond the first of each webhook-id. */
  readonly duplicates: number;
  /** Webhook-ids received with more than one body. */
  readonly differingBodies: number;
  /** Receipts whose webhook-id is no change on the topic, and requests that did not verify. */
  readonly unexpected: number;
  readonly invalid: number;
  /** Profiles whose changes first arrived out of offset order (described). */
  readonly outOfOrder: readonly string[];
  /** Withheld changes by reason (`no_consent`, `unknown_profile`, `withheld`). */
  readonly reasons: Readonly<Record<string, number>>;
}

/** One line of the receiver's record (webhook-receiver.ts). */
export interface Receipt {
  readonly id?: string;
  readonly body?: string;
  readonly invalid?: string;
}

/** The receiver's record; a last line cut short by a kill (never answered 2xx) is left out. */
export function readReceipts(file: string): Receipt[] {
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  const receipts: Receipt[] = [];
  for (const line of text.split('\n')) {
    if (!line) continue;
    try {
      receipts.push(JSON.parse(line) as Receipt);
    } catch {
      // A line whose write a kill cut short.
    }
  }
  return receipts;
}

export interface WebhookInput {
  readonly destinationId: string;
  readonly topic: string;
  readonly changes: ReadonlyArray<{
    readonly value: SegmentChange | null;
    readonly partition: number;
    readonly offset: string;
  }>;
  readonly receipts: readonly Receipt[];
  readonly attempts: ReadonlyArray<Pick<DeliveryAttempt, 'destinationId' | 'webhookId' | 'outcome' | 'error'>>;
}

export function checkWebhooks(input: WebhookInput): WebhookCheck {
  const firstSeen = new Map<string, number>();
  const bodies = new Map<string, Set<string>>();
  let duplicates = 0;
  let invalid = 0;
  input.receipts.forEach((receipt, index) => {
    if (receipt.invalid !== undefined || receipt.id === undefined) {
      invalid += 1;
      return;
    }
    if (firstSeen.has(receipt.id)) duplicates += 1;
    else firstSeen.set(receipt.id, index);
    let seen = bodies.get(receipt.id);
    if (!seen) bodies.set(receipt.id, (seen = new Set()));
    seen.add(receipt.body ?? '');
  });
  const withheldReason = new Map<string, string>();
  for (const attempt of input.attempts)
    if (attempt.destinationId === input.destinationId && attempt.outcome === 'withheld')
      withheldReason.set(attempt.webhookId, (attempt.error ?? '').split(':')[0]!);

  const expected = new Set<string>();
  const undelivered: string[] = [];
  const reasons: Record<string, number> = {};
  let delivered = 0;
  let withheld = 0;
  // Per profile, the first receipt of each of its changes, in offset order (one partition per profile).
  const receivedInOrder = new Map<string, Array<{ offset: bigint; first: number }>>();
  for (const { value, partition, offset } of input.changes) {
    if (!value) continue;
    const id = webhookId(input.destinationId, input.topic, partition, offset);
    expected.add(id);
    const first = firstSeen.get(id);
    if (first !== undefined) {
      delivered += 1;
      let list = receivedInOrder.get(value.profileId);
      if (!list) receivedInOrder.set(value.profileId, (list = []));
      list.push({ offset: BigInt(offset), first });
      continue;
    }
    const reason = withheldReason.get(id);
    if (reason !== undefined) {
      withheld += 1;
      reasons[reason] = (reasons[reason] ?? 0) + 1;
      continue;
    }
    undelivered.push(
      `${value.change} ${value.segmentName} of ${value.profileId} (partition ${partition} offset ${offset}, ${id})`,
    );
  }
  const outOfOrder: string[] = [];
  for (const [profileId, list] of receivedInOrder) {
    list.sort((a, b) => (a.offset < b.offset ? -1 : 1));
    const late = list.findIndex((entry, i) => i > 0 && entry.first < list[i - 1]!.first);
    if (late > 0)
      outOfOrder.push(`${profileId}: offset ${list[late]!.offset} arrived before ${list[late - 1]!.offset}`);
  }
  return {
    changes: expected.size,
    delivered,
    withheld,
    undelivered,
    duplicates,
    differingBodies: [...bodies.values()].filter((set) => set.size > 1).length,
    unexpected: [...firstSeen.keys()].filter((id) => !expected.has(id)).length,
    invalid,
    outOfOrder,
    reasons,
  };
}
