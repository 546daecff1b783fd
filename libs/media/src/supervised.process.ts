import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import type { Readable, Writable } from 'node:stream';
import { readLines } from './line.splitter.js';

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** True when stop() asked for it; false is a crash the owner should react to. */
  expected: boolean;
}

export interface SupervisedProcessEvents {
  /** The OS started the program. */
  started: [pid: number];
  /** It never ran (ENOENT, EACCES...): a configuration problem, not a crash. */
  'start-failed': [error: Error];
  /** It ran and has ended. */
  exited: [info: ExitInfo];
}

export interface SupervisedProcessOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /**
   * Own process group, killed as a whole on stop(): a worker's ffmpeg children die with it
   * instead of being orphaned.
   */
  processGroup?: boolean;
  /** `pipe` exposes `stdin` (e.g. to send `q` to ffmpeg); default ignore. */
  stdin?: 'ignore' | 'pipe';
  /**
   * `lines` (default): stdout is read line by line into onStdoutLine (or drained). `raw`: stdout
   * is handed over as it is (`stdout`), e.g. an ffmpeg writing MPEG-TS to `pipe:1` piped into
   * another process; its owner must consume it (pipe or destroy it), or the child blocks on a full pipe.
   */
  stdout?: 'lines' | 'raw';
  /** Only with `stdout: 'lines'`. */
  onStdoutLine?: (line: string) => void;
  onStderrLine?: (line: string) => void;
}

const CLOSE_WAIT_MS = 500;

/**
 * A long-running child (ingest segmenter, a worker, the `npm start` supervisor's services) with
 * typed events that tell a failed start from a later death, after mediasoup's Worker.
 * Always an argument array, never a shell.
 */
export class SupervisedProcess extends EventEmitter<SupervisedProcessEvents> {
  private child?: ChildProcess;
  private stopping = false;
  private running = false;
  private readonly ended: Promise<ExitInfo>;
  private resolveEnded!: (info: ExitInfo) => void;

  constructor(
    readonly command: string,
    readonly args: readonly string[],
    private readonly opts: SupervisedProcessOptions = {},
  ) {
    super();
    if (opts.stdout === 'raw' && opts.onStdoutLine) throw new TypeError('onStdoutLine needs stdout: lines, not raw');
    this.ended = new Promise((resolve) => (this.resolveEnded = resolve));
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get isRunning(): boolean {
    return this.running;
  }

  get stdin(): Writable | null {
    return this.child?.stdin ?? null;
  }

  /** The child's stdout as it is, with `stdout: 'raw'` once started; null otherwise. */
  get stdout(): Readable | null {
    return this.opts.stdout === 'raw' ? (this.child?.stdout ?? null) : null;
  }

  /** Spawns the child; listen to 'started' / 'start-failed' / 'exited'. Returns this for chaining. */
  start(): this {
    if (this.child) throw new Error(`${this.command} was already started`);
    const child = spawn(this.command, [...this.args], {
      env: this.opts.env,
      cwd: this.opts.cwd,
      detached: this.opts.processGroup ?? false,
      shell: false,
      windowsHide: true,
      stdio: [this.opts.stdin ?? 'ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    // Always drain both pipes (a child blocked on a full pipe looks hung), unless stdout is handed over.
    if (this.opts.stdout !== 'raw') readLines(child.stdout, this.opts.onStdoutLine ?? ignore);
    readLines(child.stderr, this.opts.onStderrLine ?? ignore);
    child.stdin?.on('error', () => undefined);

    child.once('spawn', () => {
      this.running = true;
      this.emit('started', child.pid as number);
    });
    child.on('error', (err) => {
      if (this.running) return; // a kill() failure on a live child; 'exit' still follows
      this.emit('start-failed', err);
      this.resolveEnded({ code: null, signal: null, expected: this.stopping });
    });
    child.once('exit', (code, signal) => {
      if (!this.running) return;
      this.running = false;
      // Whatever the child left running in its group (an ffmpeg it did not stop) goes with it.
      if (this.opts.processGroup && child.pid !== undefined) {
        try {
          process.kill(-child.pid, 'SIGKILL');
        } catch {
          // ESRCH: the group is already empty.
        }
      }
      const info: ExitInfo = { code, signal, expected: this.stopping };
      // Let the last buffered lines (the segmenter's final list entry) through first; but a
      // grandchild holding the pipes open must not delay the exit forever.
      let done = false;
      const report = () => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        this.emit('exited', info);
        this.resolveEnded(info);
      };
      const timer = setTimeout(report, CLOSE_WAIT_MS);
      child.once('close', report);
    });
    return this;
  }

  /** Resolves when the child has ended (or failed to start). */
  wait(): Promise<ExitInfo> {
    return this.ended;
  }

  /**
   * SIGTERM to the child itself, then SIGKILL (to its whole group, with `processGroup`) after
   * graceMs; resolves once the child has exited. The first signal spares the group on purpose: a
   * worker drains on SIGTERM by finishing the ffmpeg it is running, which a group-wide SIGTERM
   * would kill mid-segment. A stop() right after start() waits for the spawn.
   */
  stop(graceMs = 5000): Promise<ExitInfo> {
    this.stopping = true;
    if (!this.child) {
      this.resolveEnded({ code: null, signal: null, expected: true });
      return this.ended;
    }
    const begin = () => {
      this.signal('SIGTERM', false);
      const timer = setTimeout(() => this.signal('SIGKILL', true), graceMs);
      void this.ended.then(() => clearTimeout(timer));
    };
    if (this.running) begin();
    else this.once('started', begin);
    return this.ended;
  }

  private signal(sig: NodeJS.Signals, wholeGroup: boolean): void {
    const pid = this.child?.pid;
    if (pid === undefined) return;
    try {
      if (wholeGroup && this.opts.processGroup) process.kill(-pid, sig);
      else this.child?.kill(sig);
    } catch (err) {
      // ESRCH: already gone, the exit event is on its way.
      if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
    }
  }
}

const ignore = (): void => undefined;
