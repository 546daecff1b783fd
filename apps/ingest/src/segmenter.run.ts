import { basename, join } from 'node:path';
import type { Logger } from '@nestjs/common';
import { SupervisedProcess, parseSegmentListLine, segmenterArgs, type ExitInfo, type SegmentListEntry, type UrlSource } from '@livemesh/media';

export interface SegmenterRunOptions {
  streamId: string;
  ffmpegPath: string;
  input: UrlSource;
  segmentSeconds: number;
  /** Empty folder of this run; segment files appear here. */
  dir: string;
  /** A source silent this long ends the run (ffmpeg `-rw_timeout`), ms. */
  rwTimeoutMs: number;
  /** Hides secrets (the publish key, URL credentials) in what gets logged. */
  redact: (text: string) => string;
  onSegment: (path: string, entry: SegmentListEntry) => void;
}

/**
 * ffmpeg arguments of one ingest run: libs/media's segmenter (copy, key-frame cuts, MPEG-TS,
 * `-copyts -muxdelay 0 -muxpreload 0`, CSV list on stdout) plus an I/O timeout on the input.
 */
export function ingestSegmenterArgs(o: Pick<SegmenterRunOptions, 'input' | 'segmentSeconds' | 'dir' | 'rwTimeoutMs'>): string[] {
  const args = segmenterArgs({
    input: o.input,
    segmentSeconds: o.segmentSeconds,
    outputPattern: join(o.dir, 'seg_%06d.ts'),
    listTarget: 'pipe:1',
  });
  // libs/media has no per-input options yet: -rw_timeout must stand before the -i it applies to.
  const i = args.lastIndexOf('-i');
  return [...args.slice(0, i), '-rw_timeout', String(o.rwTimeoutMs * 1000), ...args.slice(i)];
}

/**
 * One ffmpeg segmenter process. Each line it prints on stdout is a finished segment; the file is
 * handed to onSegment (the sink publishes and deletes it). Ends when the input ends, or on
 * terminate(), which lets ffmpeg close the open segment first.
 */
export class SegmenterRun {
  private readonly proc: SupervisedProcess;
  private readonly stderr: string[] = [];
  private readonly spawned: Promise<unknown>;
  private finished = false;
  readonly args: string[];

  constructor(
    private readonly o: SegmenterRunOptions,
    private readonly logger: Logger,
  ) {
    this.args = ingestSegmenterArgs(o);
    this.proc = new SupervisedProcess(o.ffmpegPath, this.args, {
      onStdoutLine: (line) => this.onListLine(line),
      onStderrLine: (line) => {
        if (line.trim() === '') return;
        this.stderr.push(o.redact(line));
        if (this.stderr.length > 20) this.stderr.shift();
      },
    });
    this.proc.on('start-failed', (e) => this.logger.error(`stream ${o.streamId}: cannot run ${o.ffmpegPath}: ${e.message}`));
    this.spawned = new Promise((r) => {
      this.proc.once('started', r);
      this.proc.once('start-failed', r);
    });
    void this.proc.wait().then(() => (this.finished = true));
  }

  /** Starts ffmpeg; resolves when it has ended, for whatever reason. */
  start(): Promise<ExitInfo> {
    this.logger.debug(`stream ${this.o.streamId}: ${this.o.ffmpegPath} ${this.args.map((a) => this.o.redact(a)).join(' ')}`);
    this.proc.start();
    return this.proc.wait();
  }

  /** start() was called and the process has not ended yet. */
  get running(): boolean {
    return this.proc.pid !== undefined && !this.finished;
  }

  /**
   * SIGTERM: ffmpeg stops reading, closes the open segment and lists it; SIGKILL after graceMs.
   * Waits for the spawn first: a signal before it would be lost and the child would run on.
   */
  async terminate(graceMs: number): Promise<ExitInfo> {
    await Promise.race([this.spawned, this.proc.wait()]);
    return this.proc.stop(graceMs);
  }

  wait(): Promise<ExitInfo> {
    return this.proc.wait();
  }

  /** ffmpeg's last error lines, redacted. */
  stderrTail(): string {
    return this.stderr.join(' | ');
  }

  private onListLine(line: string): void {
    if (line.trim() === '') return;
    const entry = parseSegmentListLine(line);
    if (!entry) {
      this.logger.warn(`stream ${this.o.streamId}: unexpected segment list line ${JSON.stringify(this.o.redact(line))}`);
      return;
    }
    // The list names files relative to the pattern's folder; never follow it elsewhere.
    this.o.onSegment(join(this.o.dir, basename(entry.file)), entry);
  }
}
