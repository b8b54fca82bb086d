/** A value read from a file cell, or why it cannot be read (the import rejects the line with it). */
export type Parsed<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly reason: string };
