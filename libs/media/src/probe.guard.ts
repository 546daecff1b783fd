import { MediaInputError } from '@livemesh/contracts';
import type { ProbeResult } from './probe.types.js';

export interface DimensionLimits {
  maxWidth: number;
  maxHeight: number;
}

export const DEFAULT_DIMENSION_LIMITS: DimensionLimits = { maxWidth: 7680, maxHeight: 4320 };

/**
 * ffmpeg has no flag that refuses a huge picture before decoding it, and a forged header claiming
 * 30000x30000 makes every decoded frame a few GB. Probe first, and refuse before the real run.
 */
export function assertSaneDimensions(probe: ProbeResult, limits: DimensionLimits = DEFAULT_DIMENSION_LIMITS): void {
  for (const s of probe.streams) {
    if (s.codec_type === 'video') assertSanePicture(`video stream ${s.index}`, s.width, s.height, limits);
  }
}

/** The size rule itself, for a picture size read any way (ffprobe, or an SPS read in-process). */
export function assertSanePicture(what: string, width: number | undefined, height: number | undefined, limits: DimensionLimits = DEFAULT_DIMENSION_LIMITS): void {
  if (width === undefined || height === undefined || !Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0) {
    throw new MediaInputError(`${what} has no usable dimensions (${String(width)}x${String(height)})`, '', null);
  }
  if (width > limits.maxWidth || height > limits.maxHeight) {
    throw new MediaInputError(`${what} is ${width}x${height}, above the ${limits.maxWidth}x${limits.maxHeight} limit`, '', null);
  }
}
