import { existsSync } from 'node:fs';
import type { Logger } from '@nestjs/common';
import { ConfigError } from '@livemesh/contracts';
import { EnginePool, defaultEnginePath, runFfmpeg, segmentStageArgs, type SegmentTransform } from '@livemesh/media';

export interface TransformCall {
  timeoutMs: number;
  signal: AbortSignal;
  /** Keeps the segment alive while a long transform runs (ffmpeg's progress lines). */
  onProgress?: () => void;
}

/** What runs a stage's transforms: the warm engine pool or one ffmpeg per segment. */
export interface MediaEngine {
  readonly kind: 'warm' | 'cli';
  transform(data: Uint8Array, t: SegmentTransform, call: TransformCall): Promise<Uint8Array>;
  close(): Promise<void>;
}

export interface MediaEngineOptions {
  /** Segments at once: one warm engine process per slot. */
  slots: number;
  enginePath?: string;
  recycleAfter: number;
  ffmpegPath?: string;
  logger: Pick<Logger, 'warn' | 'log'>;
}

/**
 * The engine a worker uses. `auto` prefers the warm engine and falls back to the CLI with one
 * warning, so a host that did not build the engine (a third-party image) still works; `warm`
 * insists on it and fails at start-up, where a misconfiguration is cheapest to see.
 */
export function openMediaEngine(mode: 'auto' | 'warm' | 'cli', o: MediaEngineOptions): MediaEngine {
  const path = o.enginePath || defaultEnginePath();
  if (mode === 'cli') return cliEngine(o.ffmpegPath);
  if (!existsSync(path)) {
    if (mode === 'warm') throw new ConfigError('STAGE_ENGINE=warm but there is no engine binary', [`ENGINE_PATH: ${path} does not exist (npm run build compiles it)`]);
    o.logger.warn(`no warm media engine at ${path}: one ffmpeg per segment instead (npm run build compiles the engine)`);
    return cliEngine(o.ffmpegPath);
  }
  const pool = new EnginePool({ size: o.slots, enginePath: path, recycleAfter: o.recycleAfter });
  return {
    kind: 'warm',
    transform: (data, t, call) => pool.run(data, t, { timeoutMs: call.timeoutMs, signal: call.signal }),
    close: () => pool.close(),
  };
}

function cliEngine(ffmpegPath?: string): MediaEngine {
  return {
    kind: 'cli',
    transform: async (data, t, call) =>
      (await runFfmpeg(segmentStageArgs(t), { input: data, timeoutMs: call.timeoutMs, ffmpegPath, signal: call.signal, onProgress: call.onProgress })).stdout,
    close: async () => undefined,
  };
}
