// The Node side of the warm media engine (libs/media/engine/lm_engine.c): one long-lived process
// per worker slot that does what `runFfmpeg(segmentStageArgs(...))` does for a segment, without a
// process start and decoder set-up every 2 s. The framing below is the engine's stdin/stdout
// protocol; it is pure so its edge cases are unit-tested without a process.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { EngineCrashedError, MediaInputError, MediaProcessError, MediaTimeoutError, ValidationFailedError } from '@livemesh/contracts';
import { x264Args, type VideoEncode } from './args.builder.js';
import { StderrTail } from './stderr.tail.js';

/** What a stage asks of a segment: the engine's subset of SegmentStageOptions. */
export interface SegmentTransform {
  /** A filter chain from the filter builders (never user text), as `-filter:v`. */
  videoFilter?: string;
  video: VideoEncode | 'copy';
  audio: 'copy';
}

/** Limits every request carries; the engine refuses a segment that breaks them as bad input. */
export interface EngineLimits {
  maxWidth: number;
  maxHeight: number;
}

export type EngineResponseHeader =
  | { ok: true; videoFrames: number; audioPackets: number; micros?: Record<string, number> }
  | { ok: false; code: 'LM_MEDIA_INPUT' | 'LM_ENGINE'; message: string };

export interface EngineResponse {
  header: EngineResponseHeader;
  payload: Buffer;
}

/** The engine refuses longer headers (lm_engine.c MAX_HEADER_BYTES); so does this reader. */
export const MAX_HEADER_BYTES = 64 * 1024;
const DEFAULT_MAX_SEGMENT = 64 * 1024 * 1024;
const DEFAULT_MAX_OUTPUT = 512 * 1024 * 1024;
const DEFAULT_MAX_ALLOC = 512 * 1024 * 1024;
const DEFAULT_RECYCLE_AFTER = 500;
const CLOSE_GRACE_MS = 2000;

/** The build output of scripts/build-engine.mjs; `src/` and `dist/` both sit one level below libs/media. */
export function defaultEnginePath(): string {
  return fileURLToPath(new URL('../engine/build/lm-engine', import.meta.url));
}

/**
 * The request header: the same settings segmentStageArgs would turn into arguments, checked by the
 * same rules (x264Args validates the encode options), so both paths refuse the same requests.
 */
export function requestHeader(t: SegmentTransform, limits: EngineLimits): string {
  if (t.audio !== 'copy') throw new ValidationFailedError('invalid engine request', ['audio must be copy']);
  if (t.video === 'copy' && t.videoFilter) throw new ValidationFailedError('invalid engine request', ['a video filter needs video encoding, not copy']);
  if (t.video !== 'copy') x264Args(t.video);
  return JSON.stringify({
    op: 'transform',
    videoFilter: t.videoFilter || null,
    video: t.video === 'copy' ? 'copy' : { ...t.video },
    audio: 'copy',
    maxWidth: limits.maxWidth,
    maxHeight: limits.maxHeight,
  });
}

function u32(n: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32LE(n, 0);
  return b;
}

/** The bytes in front of a request's payload: header length, header, payload length. */
export function encodeRequestPrefix(header: string, payloadBytes: number): Buffer {
  const h = Buffer.from(header, 'utf8');
  if (h.length > MAX_HEADER_BYTES) throw new ValidationFailedError('invalid engine request', [`header is ${h.length} bytes, above ${MAX_HEADER_BYTES}`]);
  return Buffer.concat([u32(h.length), h, u32(payloadBytes)]);
}

function protocolError(message: string): EngineCrashedError {
  return new EngineCrashedError(`lm-engine answered garbage: ${message}`, '', null);
}

function parseHeader(text: string): EngineResponseHeader {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw protocolError('the response header is not JSON');
  }
  const o = v as Record<string, unknown>;
  if (typeof o !== 'object' || o === null) throw protocolError('the response header is not an object');
  if (o.ok === true && Number.isInteger(o.videoFrames) && Number.isInteger(o.audioPackets)) return o as EngineResponseHeader;
  if (o.ok === false && (o.code === 'LM_MEDIA_INPUT' || o.code === 'LM_ENGINE') && typeof o.message === 'string') return o as EngineResponseHeader;
  throw protocolError(`unexpected response header ${text.slice(0, 200)}`);
}

/**
 * Splits the engine's stdout into responses. Bytes arrive in arbitrary chunks; lengths are bounded
 * before anything is buffered, so a confused engine cannot make the worker reserve gigabytes.
 */
export class ResponseReader {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private header: EngineResponseHeader | undefined;
  private need = 4;
  private stage: 'hlen' | 'header' | 'plen' | 'payload' = 'hlen';

  constructor(private readonly maxPayloadBytes = DEFAULT_MAX_OUTPUT) {}

  /** Returns every response completed by `chunk`; throws EngineCrashedError on bytes outside the protocol. */
  push(chunk: Buffer): EngineResponse[] {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    const done: EngineResponse[] = [];
    while (this.buffered >= this.need) {
      const bytes = this.take(this.need);
      switch (this.stage) {
        case 'hlen':
          this.need = bytes.readUInt32LE(0);
          if (this.need === 0 || this.need > MAX_HEADER_BYTES) throw protocolError(`header length ${this.need}`);
          this.stage = 'header';
          break;
        case 'header':
          this.header = parseHeader(bytes.toString('utf8'));
          this.need = 4;
          this.stage = 'plen';
          break;
        case 'plen':
          this.need = bytes.readUInt32LE(0);
          if (this.need > this.maxPayloadBytes) throw protocolError(`payload of ${this.need} bytes is above ${this.maxPayloadBytes}`);
          this.stage = 'payload';
          break;
        case 'payload':
          done.push({ header: this.header as EngineResponseHeader, payload: bytes });
          this.header = undefined;
          this.need = 4;
          this.stage = 'hlen';
          break;
      }
    }
    return done;
  }

  /** True between responses: an engine that exits now has not left one half-written. */
  get idle(): boolean {
    return this.stage === 'hlen' && this.buffered === 0;
  }

  private take(n: number): Buffer {
    const all = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.buffered);
    const out = all.subarray(0, n);
    const rest = all.subarray(n);
    this.chunks = rest.length > 0 ? [rest] : [];
    this.buffered = rest.length;
    return out;
  }
}

export interface WarmEngineOptions {
  /** Default: defaultEnginePath(). */
  enginePath?: string;
  /** Retire after this many segments (default 500): bounds what a slow leak in libav can grow to. */
  recycleAfter?: number;
  /** av_max_alloc, like the CLI's -max_alloc (default 512 MiB). */
  maxAllocBytes?: number;
  /** Largest decoded picture accepted (default 7680x4320, as assertSaneDimensions). */
  maxWidth?: number;
  maxHeight?: number;
  /** Largest input segment (default 64 MiB); above it the segment is refused as bad input. */
  maxSegmentBytes?: number;
  /** Largest output accepted from the engine (default 512 MiB, as runFfmpeg's stdout bound). */
  maxOutputBytes?: number;
}

export interface TransformOptions {
  /** Wall-clock limit; the engine is SIGKILLed after it and the call rejects with MediaTimeoutError. */
  timeoutMs: number;
  /** Aborting kills the engine and rejects with the signal's reason. */
  signal?: AbortSignal;
}

interface Pending {
  resolve: (out: Buffer) => void;
  reject: (err: Error) => void;
}

/**
 * One lm-engine process. Requests are serialised (the engine does one at a time). Any error leaves
 * the engine dead: after a failure the process's codec state is not trusted, and a fresh process
 * costs one start, so the owner (EnginePool) replaces it rather than reasoning about what survived.
 */
export class WarmEngine {
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly reader: ResponseReader;
  private readonly tail = new StderrTail(8 * 1024);
  private readonly limits: EngineLimits;
  private readonly recycleAfter: number;
  private readonly maxSegmentBytes: number;
  private pending: Pending | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private served = 0;
  private failed: Error | undefined;
  private exited = false;
  private readonly exit: Promise<void>;

  constructor(opts: WarmEngineOptions = {}) {
    this.limits = { maxWidth: opts.maxWidth ?? 7680, maxHeight: opts.maxHeight ?? 4320 };
    this.recycleAfter = opts.recycleAfter ?? DEFAULT_RECYCLE_AFTER;
    this.maxSegmentBytes = opts.maxSegmentBytes ?? DEFAULT_MAX_SEGMENT;
    this.reader = new ResponseReader(opts.maxOutputBytes ?? DEFAULT_MAX_OUTPUT);
    const args = [
      '--max-alloc', String(opts.maxAllocBytes ?? DEFAULT_MAX_ALLOC),
      '--max-width', String(this.limits.maxWidth),
      '--max-height', String(this.limits.maxHeight),
      '--max-segment-bytes', String(this.maxSegmentBytes),
    ];
    const path = opts.enginePath ?? defaultEnginePath();
    this.child = spawn(path, args, { stdio: 'pipe', shell: false, windowsHide: true });
    this.exit = new Promise((resolve) => this.child.once('close', () => resolve()));
    this.child.once('error', (cause) => this.die(new MediaProcessError(`cannot run lm-engine at ${path} (npm run build compiles it): ${cause.message}`, '', null, { cause })));
    this.child.stderr.setEncoding('utf8');
    this.child.stderr.on('data', (c: string) => this.tail.push(c));
    // The engine died while we were writing: the exit handler below says why.
    this.child.stdin.on('error', () => undefined);
    this.child.stdout.on('data', (chunk: Buffer) => this.onStdout(chunk));
    this.child.once('exit', (code, signal) => {
      this.exited = true;
      const how = code === null ? `signal ${String(signal)}` : `code ${code}`;
      this.die(new EngineCrashedError(`lm-engine exited with ${how}`, this.tail.toString(), code));
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Segments served so far. */
  get segments(): number {
    return this.served;
  }

  /** Can take another segment: running, never failed, not due for recycling. */
  get usable(): boolean {
    return !this.failed && !this.exited && this.served < this.recycleAfter;
  }

  /** Turns one segment into the stage's output segment (see SegmentTransform). */
  transform(data: Uint8Array, t: SegmentTransform, opts: TransformOptions): Promise<Buffer> {
    // Built inside the chain so a refused request rejects like any other failure, never throws.
    const run = this.queue.then(() => this.runOne(requestHeader(t, this.limits), data, opts));
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Ends the engine: stdin EOF (it exits 0 between requests), SIGKILL after `graceMs`. */
  async close(graceMs = CLOSE_GRACE_MS): Promise<void> {
    this.failed ??= new EngineCrashedError('lm-engine was closed', '', null);
    if (this.exited) return;
    this.child.stdin.end();
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await this.exit;
    clearTimeout(timer);
  }

  private runOne(header: string, data: Uint8Array, opts: TransformOptions): Promise<Buffer> {
    if (this.failed) return Promise.reject(this.failed);
    if (this.served >= this.recycleAfter) return Promise.reject(new EngineCrashedError(`lm-engine retired after ${this.served} segments`, '', null));
    if (opts.signal?.aborted) return Promise.reject(opts.signal.reason);
    if (data.byteLength > this.maxSegmentBytes) {
      return Promise.reject(new MediaInputError(`segment of ${data.byteLength} bytes is above the ${this.maxSegmentBytes}-byte limit`, '', null));
    }
    return new Promise<Buffer>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.kill(new MediaTimeoutError(`lm-engine ran past ${opts.timeoutMs} ms and was killed`, this.tail.toString(), null));
      }, opts.timeoutMs);
      const onAbort = () => this.kill(opts.signal?.reason instanceof Error ? opts.signal.reason : new MediaProcessError('lm-engine aborted', this.tail.toString(), null, { cause: opts.signal?.reason }));
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      const settle = () => {
        clearTimeout(timer);
        opts.signal?.removeEventListener('abort', onAbort);
        this.pending = undefined;
      };
      this.pending = {
        resolve: (out) => {
          settle();
          this.served++;
          resolve(out);
        },
        reject: (err) => {
          settle();
          reject(err);
        },
      };
      this.child.stdin.write(encodeRequestPrefix(header, data.byteLength));
      this.child.stdin.write(data);
    });
  }

  private onStdout(chunk: Buffer): void {
    let responses: EngineResponse[];
    try {
      responses = this.reader.push(chunk);
    } catch (e) {
      const err = e as EngineCrashedError;
      return this.kill(new EngineCrashedError(err.message, this.tail.toString(), null, { cause: e }));
    }
    for (const r of responses) {
      const pending = this.pending;
      if (!pending) return this.kill(new EngineCrashedError('lm-engine answered a request it was never sent', this.tail.toString(), null));
      if (r.header.ok) {
        pending.resolve(r.payload);
        continue;
      }
      const Err = r.header.code === 'LM_MEDIA_INPUT' ? MediaInputError : MediaProcessError;
      // Recycle on any error: the engine resets its codecs after a failure, but one process
      // start is cheap next to trusting libav state a damaged segment went through.
      this.failed = new Err(`lm-engine: ${r.header.message}`, this.tail.toString(), null);
      pending.reject(this.failed);
      void this.close();
    }
  }

  /** Fails the current request (if any) and SIGKILLs the process. */
  private kill(err: Error): void {
    this.die(err);
    if (!this.exited) this.child.kill('SIGKILL');
  }

  private die(err: Error): void {
    this.failed ??= err;
    this.pending?.reject(err);
  }
}

export interface EnginePoolOptions extends WarmEngineOptions {
  /** At most this many engines, one per worker slot. */
  size: number;
}

/** Counters for metrics. */
export interface EnginePoolStats {
  /** Segments transformed successfully. */
  segments: number;
  /** Engines started to replace a failed, dead or retired one. */
  restarts: number;
  /** Requests that ended with EngineCrashedError (the process died or spoke garbage). */
  crashes: number;
  /** Engines running now. */
  engines: number;
}

/**
 * Up to `size` warm engines, started on first use. `run` takes an idle engine (starting one when
 * fewer than `size` exist, else waiting for one), and drops an engine that failed, died or is due
 * for recycling, so the next request gets a fresh process.
 */
export class EnginePool {
  private readonly idle: WarmEngine[] = [];
  private readonly all = new Set<WarmEngine>();
  private readonly waiters: Array<{ take: (e: WarmEngine) => void; fail: (err: unknown) => void }> = [];
  private dropped = 0;
  private closed = false;
  private readonly counters = { segments: 0, restarts: 0, crashes: 0 };

  constructor(private readonly opts: EnginePoolOptions) {
    if (!Number.isInteger(opts.size) || opts.size < 1) throw new ValidationFailedError('invalid engine pool options', ['size must be an integer >= 1']);
  }

  get stats(): EnginePoolStats {
    return { ...this.counters, engines: this.all.size };
  }

  /** Process ids of the engines running now (for logs, and for a test to kill one). */
  get pids(): number[] {
    return [...this.all].map((e) => e.pid).filter((p) => p !== undefined);
  }

  async run(data: Uint8Array, t: SegmentTransform, opts: TransformOptions): Promise<Buffer> {
    const engine = await this.acquire(opts.signal);
    try {
      const out = await engine.transform(data, t, opts);
      this.counters.segments++;
      return out;
    } catch (e) {
      if (e instanceof EngineCrashedError) this.counters.crashes++;
      throw e;
    } finally {
      this.release(engine);
    }
  }

  /** Ends every engine (stdin EOF, SIGKILL after `graceMs`); waiting and later runs reject. */
  async close(graceMs = CLOSE_GRACE_MS): Promise<void> {
    this.closed = true;
    for (const w of this.waiters.splice(0)) w.fail(new MediaProcessError('engine pool closed', '', null));
    const engines = [...this.all];
    this.all.clear();
    this.idle.length = 0;
    await Promise.all(engines.map((e) => e.close(graceMs)));
  }

  private acquire(signal?: AbortSignal): Promise<WarmEngine> {
    if (this.closed) return Promise.reject(new MediaProcessError('engine pool closed', '', null));
    if (signal?.aborted) return Promise.reject(signal.reason);
    let engine: WarmEngine | undefined;
    while ((engine = this.idle.pop())) {
      if (engine.usable) return Promise.resolve(engine);
      this.drop(engine);
    }
    if (this.all.size < this.opts.size) return Promise.resolve(this.start());
    return new Promise((resolve, reject) => {
      const waiter = {
        take: (e: WarmEngine) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(e);
        },
        fail: (err: unknown) => {
          signal?.removeEventListener('abort', onAbort);
          reject(err);
        },
      };
      const onAbort = () => {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        reject(signal?.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiters.push(waiter);
    });
  }

  private release(engine: WarmEngine): void {
    if (!this.all.has(engine)) return; // the pool was closed meanwhile
    if (!engine.usable) this.drop(engine);
    const waiter = this.waiters.shift();
    if (!waiter) {
      if (engine.usable) this.idle.push(engine);
      return;
    }
    waiter.take(engine.usable ? engine : this.start());
  }

  private start(): WarmEngine {
    if (this.dropped > this.counters.restarts) this.counters.restarts++;
    const engine = new WarmEngine(this.opts);
    this.all.add(engine);
    return engine;
  }

  private drop(engine: WarmEngine): void {
    this.all.delete(engine);
    this.dropped++;
    void engine.close();
  }
}
