import fs from 'node:fs';
import path from 'node:path';
import { csvHeader, memberLines } from './customer-match';

/** A profile an erasure removed, with its hashed identifiers of the destination's types (customer match). */
export interface ErasedMember {
  readonly profileId: string;
  readonly hashed: Readonly<Record<string, readonly string[]>>;
}

/**
 * The text of a deletions file: the erased members an export destination was sent, in the
 * destination's format and customer-match form, each with `action` `remove` (as a delta export
 * lists a member who left) and the profile id. CSV: the export's columns, `action`,
 * `profile_id`; NDJSON: `{ "action": "remove", "profileId", <type>: [hashes] }`.
 */
export function deletionsText(
  format: 'csv' | 'ndjson',
  types: readonly string[],
  members: readonly ErasedMember[],
): string {
  if (format === 'ndjson')
    return members
      .map((member) => {
        const record: Record<string, unknown> = { action: 'remove', profileId: member.profileId };
        for (const type of types) record[type] = member.hashed[type] ?? [];
        return `${JSON.stringify(record)}\n`;
      })
      .join('');
  let text = `${csvHeader(types, true).trimEnd()},profile_id\n`;
  for (const member of members) {
    const lines = memberLines('csv', member.hashed, types, 'remove');
    // A member without identifiers of these types still gets a row: the profile id names them.
    for (const line of lines === '' ? [`${types.map(() => '').join(',')},remove`] : lines.trimEnd().split('\n'))
      text += `${line},${member.profileId}\n`;
  }
  return text;
}

/**
 * Writes the deletions file of one erasure into the export's directory (mode 0600), named
 * `<destination id>-deletions-<request id>.<format>`: the same name when the notice is handled
 * again after a crash, so a repeat replaces it. Written aside and renamed, so a reader never sees
 * half of it.
 */
export async function writeDeletionsFile(
  directory: string,
  destinationId: string,
  requestId: string,
  format: 'csv' | 'ndjson',
  text: string,
): Promise<string> {
  await fs.promises.mkdir(directory, { recursive: true });
  const name = `${destinationId}-deletions-${requestId.replace(/[^A-Za-z0-9_-]/g, '_')}.${format}`;
  const target = path.join(directory, name);
  const partial = path.join(directory, `.${name}.${process.pid}.partial`);
  await fs.promises.writeFile(partial, text, { mode: 0o600 });
  await fs.promises.rename(partial, target);
  return target;
}
