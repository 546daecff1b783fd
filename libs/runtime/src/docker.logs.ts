// Docker's log stream for a container without a TTY: frames of [stream, 0, 0, 0, size (u32 BE)]
// followed by `size` bytes, stdout and stderr interleaved.

/** Lines of a dead container's output the runtime logs before it removes the container. */
export const LAST_WORDS = 15;

/** The text of a multiplexed log buffer, frames in order; bytes that are not frames are kept as text. */
export function demuxLogs(raw: Buffer): string {
  const parts: Buffer[] = [];
  let at = 0;
  while (at + 8 <= raw.length) {
    const kind = raw[at]!;
    const size = raw.readUInt32BE(at + 4);
    if (kind > 2 || raw[at + 1] !== 0 || raw[at + 2] !== 0 || raw[at + 3] !== 0 || at + 8 + size > raw.length) break;
    parts.push(raw.subarray(at + 8, at + 8 + size));
    at += 8 + size;
  }
  // A TTY container's log is plain text: whatever did not parse as frames is read as it is.
  if (at < raw.length) parts.push(raw.subarray(at));
  return Buffer.concat(parts).toString('utf8');
}
