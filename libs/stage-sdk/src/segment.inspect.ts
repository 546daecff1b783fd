import { MediaInputError, MediaProcessError, MediaTimeoutError, type SegmentMeta } from '@livemesh/contracts';
import { assertSaneDimensions, checkTsBytes, runFfprobe, type DimensionLimits, type ProbeResult } from '@livemesh/media';

/**
 * Refuses bytes that are not whole MPEG-TS packets before anything parses them (the first of
 * inspectTs's checks, kept under the SDK's name for stages that check bytes of their own).
 */
export const checkSegmentBytes = checkTsBytes;

/** What the SDK learns about a segment from one ffprobe run. */
export interface SegmentProbe extends ProbeResult {
  /** Seconds from the first packet's pts to the end of the last one, over all streams (ffprobe reports no duration for a pipe). */
  mediaSeconds?: number;
}

/**
 * ffprobe of segment bytes: streams, container and packet times in one run. A run that ends
 * with an exit code is the input's fault (ffprobe reads nothing else); a timeout or a kill is not.
 */
export async function probeSegment(data: Uint8Array, opts: { timeoutMs: number; ffprobePath?: string; signal?: AbortSignal }): Promise<SegmentProbe> {
  const args = [
    '-hide_banner', '-loglevel', 'error',
    '-protocol_whitelist', 'pipe',
    '-probesize', '5000000', '-analyzeduration', '5000000',
    '-f', 'mpegts',
    '-show_streams', '-show_format',
    '-show_entries', 'packet=stream_index,pts_time,duration_time',
    '-of', 'json',
    '-i', 'pipe:0',
  ];
  let stdout: Buffer;
  try {
    ({ stdout } = await runFfprobe(args, { input: data, timeoutMs: opts.timeoutMs, ffprobePath: opts.ffprobePath, signal: opts.signal }));
  } catch (e) {
    if (e instanceof MediaProcessError && !(e instanceof MediaTimeoutError) && e.exitCode !== null) {
      throw new MediaInputError(`unusable input: ffprobe cannot read the segment (${e.message})`, e.stderrTail, e.exitCode, { cause: e });
    }
    throw e;
  }
  let parsed: Partial<ProbeResult> & { packets?: { pts_time?: string; duration_time?: string }[] };
  try {
    parsed = JSON.parse(stdout.toString('utf8')) as typeof parsed;
  } catch (cause) {
    throw new MediaProcessError('ffprobe printed no JSON', '', 0, { cause });
  }
  let first = Infinity;
  let end = -Infinity;
  for (const p of parsed.packets ?? []) {
    const t = Number(p.pts_time);
    if (!Number.isFinite(t)) continue;
    const d = Number(p.duration_time);
    first = Math.min(first, t);
    end = Math.max(end, t + (Number.isFinite(d) ? d : 0));
  }
  return { streams: parsed.streams ?? [], format: parsed.format ?? {}, ...(end > first ? { mediaSeconds: end - first } : {}) };
}

export function checkSegmentProbe(probe: SegmentProbe, meta: Pick<SegmentMeta, 'duration'>, limits?: DimensionLimits): void {
  const format = probe.format.format_name ?? '';
  if (!format.split(',').includes('mpegts')) throw new MediaInputError(`unusable input: segment container is ${format || 'unknown'}, not MPEG-TS`, '', null);
  const av = probe.streams.filter((s) => s.codec_type === 'video' || s.codec_type === 'audio');
  if (av.length === 0 || probe.mediaSeconds === undefined) throw new MediaInputError('unusable input: segment has no audio or video packets', '', null);
  assertSaneDimensions(probe, limits);
  const measured = probe.mediaSeconds ?? Number(probe.format.duration);
  // Half of what the header says, with room for a short last segment of a publish: a segment
  // that lost its second half in transit, not one whose length ingest rounded.
  if (Number.isFinite(measured) && meta.duration >= 1 && measured < meta.duration / 2) {
    throw new MediaInputError(`unusable input: segment is truncated: it holds ${measured.toFixed(3)} s of media but its header says ${meta.duration.toFixed(3)} s`, '', null);
  }
}
