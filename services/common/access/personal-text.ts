/**
 * Free text kumiki did not write alone — a dead letter's reason or error, which may quote the
 * input (a decoder's message, a validation issue) — with whatever looks like personal data
 * replaced, for keys without pii:read. A best effort over text, not a guarantee: the original
 * bytes, which certainly are personal, are withheld from such keys altogether.
 */
export function withoutPersonalText(text: string): string {
  return text.replace(EMAIL, '[email]').replace(PHONE, '[number]').replace(LONG_TOKEN, '[value]');
}

/** An address, ASCII or full-width `＠` (folded later by the stitcher, so still a person's). */
const EMAIL = /[^\s"'`<>()[\]{},;:@＠]+[@＠][^\s"'`<>()[\]{},;:@＠]+[.．][^\s"'`<>()[\]{},;:@＠]+/gu;
/** Seven digits or more, with the separators phone numbers are written with. */
const PHONE = /\+?[\d０-９][\d０-９\s\-‐ー().]{5,}[\d０-９]/gu;
/** Quoted values of 16 characters or more: ids, tokens, addresses that fit no other pattern. */
const LONG_TOKEN = /(["'])[^"'\s]{16,}\1/gu;
