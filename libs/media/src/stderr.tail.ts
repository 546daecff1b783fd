import { LineSplitter } from './line.splitter.js';

/**
 * Keeps the last few KB of a child's stderr. ffmpeg can log for hours on a live input; only the
 * end explains why it stopped, and an unbounded buffer is a memory leak on a long-running ingest.
 */
export class StderrTail {
  private lines: string[] = [];
  private size = 0;
  private readonly splitter: LineSplitter;

  constructor(
    private readonly maxChars = 8 * 1024,
    /** Sees every complete line; returns false to keep it out of the tail (progress lines). */
    private readonly onLine: (line: string) => boolean = () => true,
  ) {
    this.splitter = new LineSplitter(maxChars);
  }

  push(chunk: string): void {
    for (const line of this.splitter.push(chunk)) if (this.onLine(line)) this.keep(line);
  }

  toString(): string {
    const partial = this.splitter.pending;
    const tail = partial !== '' && this.onLine(partial) ? [...this.lines, partial] : this.lines;
    return tail.join('\n');
  }

  private keep(line: string): void {
    this.lines.push(line);
    this.size += line.length + 1;
    while (this.size > this.maxChars && this.lines.length > 1) this.size -= (this.lines.shift() as string).length + 1;
  }
}

/** Lines that `-progress pipe:2` writes: `key=value` with no spaces (`frame=12`, `progress=continue`). */
export function isProgressLine(line: string): boolean {
  return /^[a-z_0-9]+=\S*$/.test(line);
}

/**
 * ffmpeg messages that mean the input bytes themselves are unusable, so a retry on another replica
 * cannot help and the segment should go straight to the dead-letter subject.
 */
const INPUT_FAILURES: RegExp[] = [
  /Invalid data found when processing input/i,
  /could not find codec parameters/i,
  /Invalid frame dimensions/i,
  /moov atom not found/i,
  /does not contain any stream/i,
  /Output file is empty/i,
  /Stream map '.*' matches no streams/i,
  /Output file #\d+ does not contain any stream/i,
  /Picture size \d+x\d+ is invalid/i,
  /sample rate not set/i,
  /incorrect codec parameters/i,
  /Invalid NAL unit size/i,
  /no frame!/i,
  /End of file/i,
  // `Invalid argument` is also what ffmpeg says about a bad option; only count it on the input.
  /^(pipe:0?|file:.*|\/.*): Invalid argument$/im,
];

export function isInputFailure(stderr: string): boolean {
  return INPUT_FAILURES.some((re) => re.test(stderr));
}
