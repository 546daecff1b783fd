/**
 * Cuts a child's output into lines as chunks arrive: `\n`, `\r\n` and a bare `\r` (ffmpeg's
 * progress line) all end a line, empty lines are dropped, and a line that never ends (a binary blob
 * on stderr) is handed on as its last `maxLine` characters instead of growing without bound.
 */
export class LineSplitter {
  private partial = '';

  constructor(private readonly maxLine = 64 * 1024) {}

  /** The complete lines this chunk finishes. */
  push(chunk: string): string[] {
    const parts = (this.partial + chunk).split(/\r?\n|\r/);
    this.partial = parts.pop() ?? '';
    if (this.partial.length > this.maxLine) {
      parts.push(this.partial.slice(-this.maxLine));
      this.partial = '';
    }
    return parts.filter((line) => line !== '');
  }

  /** The line still being written (no line end yet); empty when there is none. */
  get pending(): string {
    return this.partial;
  }

  /** At end of stream: the last line when it had no line end. */
  end(): string[] {
    const last = this.partial;
    this.partial = '';
    return last === '' ? [] : [last];
  }
}

/** Calls `onLine` for every line of `stream` (a child's stdout or stderr), the last one included. */
export function readLines(stream: NodeJS.ReadableStream | null | undefined, onLine: (line: string) => void, maxLine?: number): void {
  if (!stream) return;
  const lines = new LineSplitter(maxLine);
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    for (const line of lines.push(chunk)) onLine(line);
  });
  stream.on('end', () => {
    for (const line of lines.end()) onLine(line);
  });
}
