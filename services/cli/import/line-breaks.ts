/** Line breaks in a text: LF, CR and CRLF each end one line (Excel on old Macs wrote CR alone). */
export function countLineBreaks(text: string): number {
  let count = 0;
  for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) count += 1;
  for (let i = text.indexOf('\r'); i >= 0; i = text.indexOf('\r', i + 1)) if (text[i + 1] !== '\n') count += 1;
  return count;
}
