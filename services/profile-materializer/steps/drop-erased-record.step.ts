import type { IdentityChange, StitchedEvent } from '../../../schemas';
import { step, type Step } from '../../common/pipeline';
import { drop, ok } from '../../common/step-result';
import type { ErasedPeople } from '../privacy/erased-people';
import type { MaterializerRecord } from './decode-record.step';

/**
 * An erased person's record coming back (a replay of the stitched or identity-change topics, a
 * rebuild from them) is dropped before anything is written. Only records made at or before the
 * latest erasure are checked (ErasedPeople).
 */
export function dropErasedRecordStep(erased: ErasedPeople | undefined): Step<MaterializerRecord, MaterializerRecord> {
  return step<MaterializerRecord, MaterializerRecord>('drop-erased-record', (record) => {
    const isErased =
      record.kind === 'event'
        ? isErasedStitchedEvent(record.event, erased)
        : isErasedIdentityChange(record.change, erased);
    return isErased ? drop('an erased person') : ok(record);
  });
}

export function isErasedStitchedEvent(record: StitchedEvent, erased: ErasedPeople | undefined): boolean {
  return erased?.isErasedRecord(record.stitchedAt, [record.profileId], record.identifiers) ?? false;
}

/** A link, merge or refusal naming an erased profile, or an identifier erased after the change was made. */
export function isErasedIdentityChange(change: IdentityChange, erased: ErasedPeople | undefined): boolean {
  return (
    erased?.isErasedRecord(change.changedAt, [change.profileId, ...change.absorbedProfileIds], change.identifiers) ??
    false
  );
}
