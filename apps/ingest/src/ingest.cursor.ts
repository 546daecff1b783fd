import { assertToken, type IngestCursor } from '@livemesh/contracts';

// The cursor's shape is the `lm_ingest` bucket's value type, so it lives in contracts (BucketValues).
export type { IngestCursor };

export function cursorKey(streamId: string): string {
  return assertToken('stream id', streamId);
}

export function initialCursor(streamId: string): IngestCursor {
  return { streamId, nextSeq: 0, epoch: 0, lastPtsEnd: null, sourceEnd: null, updatedAt: new Date(0).toISOString() };
}

/**
 * Below this much backwards the timeline counts as restarted; smaller steps are float noise in
 * the segment list's 6-decimal times, or the audio/video interleave at a reconnect seam.
 */
export const TIMELINE_RESTART_TOLERANCE_S = 0.25;

/**
 * One segmenter run's mapping onto the output timeline. Every run rebases its source to 0
 * (`-start_at_zero`, so the segment muxer's cut points are counted from the run's start) and
 * writes its segments `offset` seconds later (`-initial_offset`): the output timeline of a stream
 * never goes backwards, whatever its sources do.
 */
export interface RunTimeline {
  /** -initial_offset of the run, seconds. */
  offset: number;
  /** The run's first timestamp on the source clock (ffmpeg's `start:`), undefined when it was not seen. */
  sourceStart: number | undefined;
  /** The source clock went on from where the stream's last segment ended: same epoch. */
  continued: boolean;
}

/** A forward jump of the source clock up to this is kept as it is; a longer one is closed up. */
export const MAX_KEPT_GAP_S = 1;

export interface PlacedSegment {
  seq: number;
  epoch: number;
  pts: number;
  duration: number;
  /** End on the source clock, when known. */
  sourceEnd: number | null;
}

/**
 * Plans a new segmenter run from the source's first timestamp `sourceStart`, read before the
 * segmenter starts.
 * - The source clock went back (a new encoder, a wrapped clock) or cannot be read: a restart. The
 *   run starts where the last segment ended and its first segment gets the next epoch, so delivery
 *   writes EXT-X-DISCONTINUITY.
 * - It goes on from about where the last segment ended: the same timeline. node-media-server
 *   resumes a publisher that reconnects within its grace window this way (it shifts the new
 *   session's timestamps to the old session's last ones, which repeats up to a frame); a pulled
 *   source that reconnects does too. A small forward step is kept exactly; a repeat or a long jump
 *   (media lost while away) is closed up, so the playlist stays continuous either way.
 */
export function planRun(cursor: IngestCursor, sourceStart: number | undefined): RunTimeline {
  const end = cursor.lastPtsEnd;
  if (end === null) return { offset: 0, sourceStart, continued: true };
  const prev = cursor.sourceEnd ?? null;
  if (sourceStart === undefined || prev === null || sourceStart < prev - TIMELINE_RESTART_TOLERANCE_S) {
    return { offset: end, sourceStart, continued: false };
  }
  const gap = sourceStart - prev;
  return { offset: gap >= 0 && gap <= MAX_KEPT_GAP_S ? end + gap : end, sourceStart, continued: true };
}

/**
 * Numbers the next segment from the segment list's `start,end` (seconds since the run's start).
 * The first segment of a run carries the run's verdict (continued: same epoch; restarted: next
 * epoch); inside a run only a clock that jumps back restarts the timeline.
 */
export function placeSegment(cursor: IngestCursor, run: RunTimeline, start: number, end: number, firstOfRun: boolean): PlacedSegment {
  const relStart = Math.max(0, start);
  const pts = run.offset + relStart;
  const sourceEnd = run.sourceStart === undefined ? null : run.sourceStart + end;
  let restarted: boolean;
  if (cursor.lastPtsEnd === null) restarted = false;
  else if (firstOfRun) restarted = !run.continued;
  else restarted = pts < cursor.lastPtsEnd - TIMELINE_RESTART_TOLERANCE_S;
  return {
    seq: cursor.nextSeq,
    epoch: restarted ? cursor.epoch + 1 : cursor.epoch,
    pts,
    duration: Math.max(0, end - relStart),
    sourceEnd,
  };
}

/** The cursor after `placed` went out. */
export function advanceCursor(cursor: IngestCursor, placed: PlacedSegment, now = new Date()): IngestCursor {
  return {
    streamId: cursor.streamId,
    nextSeq: placed.seq + 1,
    epoch: placed.epoch,
    lastPtsEnd: placed.pts + placed.duration,
    sourceEnd: placed.sourceEnd,
    updatedAt: now.toISOString(),
  };
}

/** Input bitrate of a segment in kb/s (bytes * 8 / duration / 1000, one decimal); undefined without a duration. */
export function segmentKbps(bytes: number, durationS: number): number | undefined {
  if (!(durationS > 0) || !Number.isFinite(bytes) || bytes < 0) return undefined;
  return Math.round((bytes * 8) / durationS / 100) / 10;
}

/** Validates a cursor read back from KV; anything else starts the stream's numbering afresh. */
export function isCursor(value: unknown, streamId: string): value is IngestCursor {
  const c = value as Partial<IngestCursor> | null;
  const finiteOrNull = (v: unknown) => v === null || v === undefined || (typeof v === 'number' && Number.isFinite(v));
  return (
    typeof c === 'object' && c !== null &&
    c.streamId === streamId &&
    Number.isInteger(c.nextSeq) && (c.nextSeq as number) >= 0 &&
    Number.isInteger(c.epoch) && (c.epoch as number) >= 0 &&
    (c.lastPtsEnd === null || (typeof c.lastPtsEnd === 'number' && Number.isFinite(c.lastPtsEnd))) &&
    finiteOrNull(c.sourceEnd)
  );
}
