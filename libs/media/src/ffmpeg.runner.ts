import { spawn } from 'node:child_process';
import { MediaInputError, MediaProcessError, MediaTimeoutError } from '@livemesh/contracts';
import type { ProbeResult } from './probe.types.js';
import { StderrTail, isInputFailure, isProgressLine } from './stderr.tail.js';

export interface RunOptions {
  /** Bytes written to the child's stdin (the segment); stdin is closed when absent. */
  input?: Uint8Array;
  /** Wall-clock limit; the child is SIGKILLed after it. */
  timeoutMs: number;
  ffmpegPath?: string;
  signal?: AbortSignal;
  /**
   * Called at most about once a second while ffmpeg reports progress, so a caller can tell
   * JetStream the message is still being worked on (in-progress ack) instead of guessing.
   */
  onProgress?: () => void;
  /** Refuse a run that exits 0 but writes nothing to stdout: the input held nothing to encode. */
  expectOutput?: boolean;
  /** Stdout above this is a runaway; the child is killed. Default 512 MiB. */
  maxOutputBytes?: number;
}

export interface ProbeOptions {
  timeoutMs: number;
  ffprobePath?: string;
  signal?: AbortSignal;
  /** Force the input format (e.g. `mpegts`) instead of letting ffprobe guess. */
  format?: string;
}

export interface RunResult {
  stdout: Buffer;
  stderr: string;
}

const PROGRESS_INTERVAL_MS = 1000;
const DEFAULT_MAX_OUTPUT = 512 * 1024 * 1024;

/** Runs ffmpeg with an argument array (never a shell) and the segment on stdin. */
export function runFfmpeg(args: string[], opts: RunOptions): Promise<RunResult> {
  return runTool(opts.ffmpegPath ?? 'ffmpeg', withProgress(args, opts.onProgress !== undefined), opts);
}

/** Runs ffprobe the same way (no progress: it is short). */
export function runFfprobe(args: string[], opts: Omit<RunOptions, 'ffmpegPath' | 'onProgress'> & { ffprobePath?: string }): Promise<RunResult> {
  return runTool(opts.ffprobePath ?? 'ffprobe', args, opts);
}

/** Streams and container of a segment (bytes) or a local file (path). */
export async function probe(input: Uint8Array | string, opts: ProbeOptions): Promise<ProbeResult> {
  const local = typeof input === 'string';
  const args = [
    '-hide_banner',
    '-loglevel', 'error',
    '-protocol_whitelist', local ? 'file' : 'pipe',
    '-probesize', '5000000',
    '-analyzeduration', '5000000',
    ...(opts.format ? ['-f', opts.format] : []),
    '-show_streams',
    '-show_format',
    '-of', 'json',
    // `file:` stops a path like `rtmp:x` or `-y` being read as a protocol or an option.
    '-i', local ? `file:${input}` : 'pipe:0',
  ];
  const { stdout, stderr } = await runFfprobe(args, { timeoutMs: opts.timeoutMs, ffprobePath: opts.ffprobePath, signal: opts.signal, input: local ? undefined : input });
  let parsed: Partial<ProbeResult>;
  try {
    parsed = JSON.parse(stdout.toString('utf8')) as Partial<ProbeResult>;
  } catch (cause) {
    throw new MediaProcessError('ffprobe printed no JSON', stderr, 0, { cause });
  }
  const result: ProbeResult = { streams: parsed.streams ?? [], format: parsed.format ?? {} };
  if (result.streams.length === 0) throw new MediaInputError('input has no streams', stderr, 0);
  return result;
}

function withProgress(args: string[], wanted: boolean): string[] {
  if (!wanted || args.includes('-progress')) return args;
  // Global options, so they may go first. -nostats keeps the human progress line out of the tail.
  return ['-progress', 'pipe:2', '-nostats', ...(args.includes('-stats_period') ? [] : ['-stats_period', '1']), ...args];
}

function runTool(cmd: string, args: string[], opts: RunOptions): Promise<RunResult> {
  const name = cmd.split('/').pop() ?? cmd;
  if (opts.input !== undefined && opts.input.byteLength === 0) {
    return Promise.reject(new MediaInputError(`${name}: empty input`, '', null));
  }
  if (opts.signal?.aborted) {
    return Promise.reject(new MediaProcessError(`${name} aborted before start`, '', null, { cause: opts.signal.reason }));
  }

  return new Promise<RunResult>((resolve, reject) => {
    let lastProgress = 0;
    const tail = new StderrTail(8 * 1024, (line) => {
      if (!isProgressLine(line)) return true;
      const now = Date.now();
      if (line.startsWith('progress=') && opts.onProgress && now - lastProgress >= PROGRESS_INTERVAL_MS) {
        lastProgress = now;
        try {
          opts.onProgress();
        } catch {
          // A failing progress callback (a closed NATS connection) must not kill the encode.
        }
      }
      return false;
    });
    const out: Buffer[] = [];
    let outBytes = 0;
    const maxOut = opts.maxOutputBytes ?? DEFAULT_MAX_OUTPUT;
    let failure: MediaProcessError | undefined;
    let settled = false;

    const child = spawn(cmd, args, { stdio: 'pipe', shell: false, windowsHide: true });

    const kill = (why: MediaProcessError) => {
      failure ??= why;
      child.kill('SIGKILL');
    };
    const timer = setTimeout(() => kill(new MediaTimeoutError(`${name} ran past ${opts.timeoutMs} ms and was killed`, tail.toString(), null)), opts.timeoutMs);
    const onAbort = () => kill(new MediaProcessError(`${name} aborted`, tail.toString(), null, { cause: opts.signal?.reason }));
    opts.signal?.addEventListener('abort', onAbort, { once: true });

    const finish = (err: Error | undefined, result?: RunResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      if (err) reject(err);
      else resolve(result as RunResult);
    };

    child.on('error', (cause) => finish(new MediaProcessError(`cannot run ${cmd}: ${cause.message}`, tail.toString(), null, { cause })));
    child.stdout.on('data', (chunk: Buffer) => {
      outBytes += chunk.length;
      if (outBytes > maxOut) return kill(new MediaProcessError(`${name} wrote more than ${maxOut} bytes`, tail.toString(), null));
      out.push(chunk);
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => tail.push(chunk));

    // ffmpeg stops reading once it has seen enough (or rejected the input): EPIPE is then normal
    // and the exit code tells what happened.
    child.stdin.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EPIPE' && err.code !== 'ERR_STREAM_DESTROYED' && err.code !== 'ECONNRESET') kill(new MediaProcessError(`${name} stdin failed`, tail.toString(), null, { cause: err }));
    });
    if (opts.input) child.stdin.end(opts.input);
    else child.stdin.end();

    child.on('close', (code, signal) => {
      const stderr = tail.toString();
      if (failure) {
        // Refresh the tail: the error was created before the last lines arrived.
        const f = failure;
        const Cls = f.constructor as new (m: string, t: string, c: number | null, o?: { cause?: unknown }) => MediaProcessError;
        return finish(new Cls(f.message, stderr, code, { cause: f.cause }));
      }
      if (code === 0) {
        const stdout = Buffer.concat(out, outBytes);
        if (opts.expectOutput && stdout.length === 0) return finish(new MediaInputError(`${name} produced no output: nothing in the input to encode`, stderr, 0));
        return finish(undefined, { stdout, stderr });
      }
      const what = `${name} exited with ${code === null ? `signal ${String(signal)}` : `code ${code}`}`;
      const lastLine = stderr.split('\n').filter(Boolean).pop();
      const message = lastLine ? `${what}: ${lastLine}` : what;
      finish(isInputFailure(stderr) ? new MediaInputError(message, stderr, code) : new MediaProcessError(message, stderr, code));
    });
  });
}
