import { assertToken } from '@livemesh/contracts';

/**
 * Where a stream's segment numbering stands. Persisted in `lm_streams` under `ingest.<streamId>`
 * (two tokens, so a watch or listing of stream records with the one-token filter `*` never sees
 * it), written after every published segment: seq keeps counting across publisher reconnects and
 * ingest restarts, and delivery sees one sequence per stream.
 */
export interface IngestCursor {
  streamId: string;
  /** seq of the next segment. */
  nextSeq: number;
  /** Timeline epoch of the last published segment. */
  epoch: number;
  /** pts + duration of the last published segment (seconds), null before the first. */
  lastPtsEnd: number | null;
  updatedAt: string;
}

export function cursorKey(streamId: string): string {
  return assertToken('stream id', streamId);
}

export function initialCursor(streamId: string): IngestCursor {
  return { streamId, nextSeq: 0, epoch: 0, lastPtsEnd: null, updatedAt: new Date(0).toISOString() };
}

/**
 * Below this much backwards the timeline counts as restarted; smaller steps are float noise in
 * the segment list's 6-decimal times.
 */
export const TIMELINE_RESTART_TOLERANCE_S = 0.25;

export interface PlacedSegment {
  seq: number;
  epoch: number;
  pts: number;
  duration: number;
}

/**
 * Numbers the next segment from the segment list's `start,end`. A start earlier than where the last
 * segment ended means the source timeline restarted (a new publisher, a new segmenter run, a
 * source that wrapped): the epoch goes up so delivery can mark the discontinuity.
 */
export function placeSegment(cursor: IngestCursor, start: number, end: number): PlacedSegment {
  const pts = Math.max(0, start);
  const restarted = cursor.lastPtsEnd !== null && pts < cursor.lastPtsEnd - TIMELINE_RESTART_TOLERANCE_S;
  return {
    seq: cursor.nextSeq,
    epoch: restarted ? cursor.epoch + 1 : cursor.epoch,
    pts,
    duration: Math.max(0, end - start),
  };
}

/** The cursor after `placed` went out. */
export function advanceCursor(cursor: IngestCursor, placed: PlacedSegment, now = new Date()): IngestCursor {
  return {
    streamId: cursor.streamId,
    nextSeq: placed.seq + 1,
    epoch: placed.epoch,
    lastPtsEnd: placed.pts + placed.duration,
    updatedAt: now.toISOString(),
  };
}

/** Validates a cursor read back from KV; anything else starts the stream's numbering afresh. */
export function isCursor(value: unknown, streamId: string): value is IngestCursor {
  const c = value as Partial<IngestCursor> | null;
  return (
    typeof c === 'object' && c !== null &&
    c.streamId === streamId &&
    Number.isInteger(c.nextSeq) && (c.nextSeq as number) >= 0 &&
    Number.isInteger(c.epoch) && (c.epoch as number) >= 0 &&
    (c.lastPtsEnd === null || (typeof c.lastPtsEnd === 'number' && Number.isFinite(c.lastPtsEnd)))
  );
}
