/**
 * Derived data that segments read: a table or view written outside the event path, such as the
 * RFM snapshot behind `rfm`. A segment over it cannot move when the event arrives (the derived
 * rows are written later), so its writer announces the profiles whose rows changed once the new
 * rows are readable, and the segments whose member queries read any of `tables` — found by
 * ClickHouse when the segment was saved (segment_reads_store) — are evaluated for exactly those
 * profiles, in the next incremental run.
 *
 * One registration per source, in the materializer's composition root:
 *
 *   const rfmChanged = segments.derivedDataSource({ name: 'rfm', tables: ['rfm', 'rfm_as_of'] });
 *   … after each write, a page at a time: await rfmChanged(profileIdsWhoseRowsChanged);
 */
export interface DerivedDataSource {
  /** Names the source in logs and in `kumiki_segment_derived_profiles_total{source}`. */
  readonly name: string;
  /**
   * Tables or views of the database whose rows the source changes, by the names segments read
   * (a view built over one of them reads it too, and counts).
   */
  readonly tables: readonly string[];
}

/**
 * What a registered source's writer calls with the profiles whose rows changed. The profiles are
 * taken at once; the promise resolves when evaluation has room for more (fewer pending profiles
 * than a bound), so a writer that pages through a large change waits instead of piling up ids.
 * It never rejects.
 */
export type DerivedDataChanged = (profileIds: readonly string[]) => Promise<void>;
