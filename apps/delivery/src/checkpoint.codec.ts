import { isToken, type CheckpointEntry, type DeliveryPosition, type DeliveryStreamCheckpoint, type PlaylistCheckpoint } from '@livemesh/contracts';

/** `lm_delivery[stream.<id>]`, the key of a stream's checkpoint. */
export const streamCheckpointKey = (streamId: string): string => `stream.${streamId}`;
/** `lm_delivery[position]`. */
export const POSITION_KEY = 'position';

/**
 * Bounds of what a checkpoint may hold. A rendition's time-shift index covers at most
 * OUTPUT_RETENTION_SECONDS (600 s by default: 300 two-second segments); anything far beyond these
 * is not a checkpoint delivery wrote.
 */
const MAX_ENTRIES = 20_000;
const MAX_LIST = 1_024;
const MAX_RENDITIONS = 32;

/** A value in `lm_delivery` that is not a checkpoint delivery could have written; the stream is read from LM_OUT instead. */
export class BadCheckpointError extends Error {
  override readonly name = 'BadCheckpointError';
}

type Obj = Record<string, unknown>;

function fail(where: string, what: string): never {
  throw new BadCheckpointError(`${where}: ${what}`);
}
function obj(v: unknown, where: string): Obj {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) fail(where, 'not an object');
  return v as Obj;
}
function seqNum(v: unknown, where: string): number {
  if (!Number.isSafeInteger(v) || (v as number) < 0) fail(where, `${JSON.stringify(v)} is not a non-negative integer`);
  return v as number;
}
function finite(v: unknown, where: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) fail(where, `${JSON.stringify(v)} is not a number`);
  return v;
}
function optional<T>(v: unknown, check: (v: unknown) => T): T | undefined {
  return v === undefined || v === null ? undefined : check(v);
}
function list(v: unknown, where: string, max: number): unknown[] {
  if (!Array.isArray(v) || v.length > max) fail(where, `not a list of at most ${max}`);
  return v;
}

function entry(v: unknown, where: string): CheckpointEntry {
  const e = obj(v, where);
  const size = (x: unknown): number => {
    const n = seqNum(x, `${where}.width/height`);
    if (n < 1 || n > 16_384) fail(where, `picture size ${n}`);
    return n;
  };
  return {
    seq: seqNum(e.seq, `${where}.seq`),
    duration: finite(e.duration, `${where}.duration`),
    pts: finite(e.pts, `${where}.pts`),
    ingestTime: finite(e.ingestTime, `${where}.ingestTime`),
    epoch: seqNum(e.epoch, `${where}.epoch`),
    ref: optional(e.ref, (x) => seqNum(x, `${where}.ref`)),
    bytes: seqNum(e.bytes, `${where}.bytes`),
    width: optional(e.width, size),
    height: optional(e.height, size),
    msn: seqNum(e.msn, `${where}.msn`),
    discontinuity: e.discontinuity === true,
    programDateTime: finite(e.programDateTime, `${where}.programDateTime`),
    availableAt: finite(e.availableAt, `${where}.availableAt`),
    discontinuitiesBefore: seqNum(e.discontinuitiesBefore, `${where}.discontinuitiesBefore`),
  };
}

/** Entries strictly rising by seq, as a playlist appends them. */
function entries(v: unknown, where: string): CheckpointEntry[] {
  const out = list(v, where, MAX_ENTRIES).map((e, i) => entry(e, `${where}[${i}]`));
  for (let i = 1; i < out.length; i++) if (out[i]!.seq <= out[i - 1]!.seq) fail(where, 'seqs do not rise');
  return out;
}

function playlist(v: unknown, where: string): PlaylistCheckpoint {
  const p = obj(v, where);
  const anchor = optional(p.anchor, (a) => {
    const o = obj(a, `${where}.anchor`);
    return { epoch: seqNum(o.epoch, `${where}.anchor.epoch`), pts: finite(o.pts, `${where}.anchor.pts`), wall: finite(o.wall, `${where}.anchor.wall`) };
  });
  const cp: PlaylistCheckpoint = {
    entries: entries(p.entries, `${where}.entries`),
    archive: entries(p.archive, `${where}.archive`),
    nextSeq: optional(p.nextSeq, (x) => seqNum(x, `${where}.nextSeq`)),
    mediaSequence: seqNum(p.mediaSequence, `${where}.mediaSequence`),
    discontinuitySequence: seqNum(p.discontinuitySequence, `${where}.discontinuitySequence`),
    discontinuities: seqNum(p.discontinuities, `${where}.discontinuities`),
    targetDuration: seqNum(p.targetDuration, `${where}.targetDuration`),
    skipPending: p.skipPending === true,
    anchor,
    gaps: list(p.gaps, `${where}.gaps`, MAX_LIST).map((g) => seqNum(g, `${where}.gaps`)),
    skippedRanges: list(p.skippedRanges, `${where}.skippedRanges`, MAX_LIST).map((r) => {
      const o = obj(r, `${where}.skippedRanges`);
      const range = { from: seqNum(o.from, `${where}.skippedRanges.from`), to: seqNum(o.to, `${where}.skippedRanges.to`) };
      if (range.to < range.from) fail(where, 'a skipped range ends before it starts');
      return o.marked === true ? { ...range, marked: true as const } : range;
    }),
    endRequestedAt: optional(p.endRequestedAt, (x) => finite(x, `${where}.endRequestedAt`)),
    lastSeq: optional(p.lastSeq, (x) => seqNum(x, `${where}.lastSeq`)),
    ended: p.ended === true,
  };
  if (cp.targetDuration < 1 || cp.targetDuration > 3_600) fail(where, `target duration ${cp.targetDuration}`);
  const last = cp.entries.at(-1);
  if (last && (cp.nextSeq === undefined || cp.nextSeq <= last.seq)) fail(where, 'nextSeq is not after the last entry');
  const firstWindow = cp.entries[0];
  if (firstWindow && firstWindow.msn !== cp.mediaSequence) fail(where, 'the window does not start at the media sequence');
  if (firstWindow && cp.archive.at(-1) && cp.archive.at(-1)!.seq >= firstWindow.seq) fail(where, 'the archive overlaps the window');
  return cp;
}

/** A stream's checkpoint read from `lm_delivery`, checked field by field; throws BadCheckpointError. */
export function decodeStreamCheckpoint(value: unknown, key: string): DeliveryStreamCheckpoint {
  const c = obj(value, key);
  if (c.kind !== 'stream') fail(key, `kind ${JSON.stringify(c.kind)} is not 'stream'`);
  if (!isToken(c.streamId) || key !== streamCheckpointKey(c.streamId)) fail(key, `stream id ${JSON.stringify(c.streamId)} does not match its key`);
  const renditions = obj(c.renditions, `${key}.renditions`);
  const names = Object.keys(renditions);
  if (names.length > MAX_RENDITIONS) fail(key, `${names.length} renditions`);
  const endRequested = optional(c.endRequested, (e) => {
    const o = obj(e, `${key}.endRequested`);
    return { lastSeq: optional(o.lastSeq, (x) => seqNum(x, `${key}.endRequested.lastSeq`)), at: finite(o.at, `${key}.endRequested.at`) };
  });
  const out: DeliveryStreamCheckpoint = {
    kind: 'stream',
    streamId: c.streamId,
    resumeAfter: seqNum(c.resumeAfter, `${key}.resumeAfter`),
    lastIngestTime: finite(c.lastIngestTime, `${key}.lastIngestTime`),
    endRequested,
    endedAt: optional(c.endedAt, (x) => finite(x, `${key}.endedAt`)),
    pendingGaps: list(c.pendingGaps, `${key}.pendingGaps`, MAX_LIST).map((g) => seqNum(g, `${key}.pendingGaps`)),
    renditions: {},
    takenAt: typeof c.takenAt === 'string' ? c.takenAt : fail(key, 'takenAt is not a string'),
  };
  for (const name of names) {
    if (!isToken(name)) fail(key, `rendition ${JSON.stringify(name)} is not a token`);
    out.renditions[name] = playlist(renditions[name], `${key}.renditions.${name}`);
  }
  return out;
}

/** The position value; throws BadCheckpointError. */
export function decodePosition(value: unknown): DeliveryPosition {
  const p = obj(value, POSITION_KEY);
  if (p.kind !== 'position') fail(POSITION_KEY, `kind ${JSON.stringify(p.kind)} is not 'position'`);
  return { kind: 'position', lastSeq: seqNum(p.lastSeq, `${POSITION_KEY}.lastSeq`), takenAt: typeof p.takenAt === 'string' ? p.takenAt : fail(POSITION_KEY, 'takenAt is not a string') };
}
