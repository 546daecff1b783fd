import { advanceCursor, cursorKey, initialCursor, isCursor, placeSegment, planRun, segmentKbps, type RunTimeline } from './ingest.cursor.js';

const after = (pts: number, duration: number, sourceEnd: number | null, epoch = 0, seq = 0) =>
  advanceCursor(initialCursor('s1'), { seq, epoch, pts, duration, sourceEnd });

describe('ingest cursor', () => {
  it('numbers segments from 0 and keeps the epoch while the timeline goes on', () => {
    let c = initialCursor('s1');
    const r = planRun(c, 5);
    expect(r).toEqual({ offset: 0, sourceStart: 5, continued: true });
    const a = placeSegment(c, r, 0, 2.021, true);
    expect(a).toEqual({ seq: 0, epoch: 0, pts: 0, duration: 2.021, sourceEnd: 7.021 });
    c = advanceCursor(c, a);
    const b = placeSegment(c, r, 2.021, 4.021, false);
    expect(b).toMatchObject({ seq: 1, epoch: 0, pts: 2.021, duration: 2 });
    c = advanceCursor(c, b);
    expect(c.nextSeq).toBe(2);
    expect(c.lastPtsEnd).toBeCloseTo(4.021);
    expect(c.sourceEnd).toBeCloseTo(9.021);
  });

  it('maps a run whose source clock steps a little forward exactly onto the output', () => {
    const c = after(0, 6.04, 6.04);
    const r = planRun(c, 6.1);
    expect(r.continued).toBe(true);
    expect(r.offset).toBeCloseTo(6.1);
    const placed = placeSegment(c, r, 0, 2, true);
    expect(placed).toMatchObject({ seq: 1, epoch: 0 });
    expect(placed.pts).toBeCloseTo(6.1);
  });

  it('starts a resumed source that repeats up to a frame (node-media-server grace) right after the end', () => {
    const r = planRun(after(0, 6.04, 6.04), 6.0);
    expect(r).toEqual({ offset: 6.04, sourceStart: 6.0, continued: true });
  });

  it('closes up a long forward jump of the source clock instead of leaving a hole', () => {
    const r = planRun(after(0, 6, 6), 40);
    expect(r).toEqual({ offset: 6, sourceStart: 40, continued: true });
  });

  it('starts a restarted source where the stream left off, with the next epoch', () => {
    let c = after(14, 2, 16, 0, 7);
    const r = planRun(c, 0);
    expect(r).toEqual({ offset: 16, sourceStart: 0, continued: false });
    const restarted = placeSegment(c, r, 0, 2, true);
    expect(restarted).toEqual({ seq: 8, epoch: 1, pts: 16, duration: 2, sourceEnd: 2 });
    c = advanceCursor(c, restarted);
    expect(placeSegment(c, r, 2, 4, false).epoch).toBe(1);
  });

  it('counts an unknown source clock as a restart (a marked discontinuity is always playable)', () => {
    expect(planRun(after(0, 2, null), 2).continued).toBe(false);
    expect(planRun(after(0, 2, 2), undefined).continued).toBe(false);
  });

  it('does not take float noise inside a run for a restart', () => {
    const c = after(0, 2.000001, 2);
    const r: RunTimeline = { offset: 0, sourceStart: 0, continued: true };
    expect(placeSegment(c, r, 2, 4, false).epoch).toBe(0);
    expect(placeSegment(c, r, 1, 4, false).epoch).toBe(1);
  });

  it('clamps a negative start to 0', () => {
    expect(placeSegment(initialCursor('s1'), planRun(initialCursor('s1'), 0), -0.02, 2, true)).toMatchObject({ pts: 0, duration: 2 });
  });

  it('keys a cursor by the stream id (in its own bucket) and refuses a bad id', () => {
    expect(cursorKey('s1')).toBe('s1');
    expect(() => cursorKey('a.b')).toThrow(/not a valid name/);
  });

  it('validates what comes back from KV, old cursors without sourceEnd included', () => {
    expect(isCursor(after(0, 2, 2), 's1')).toBe(true);
    expect(isCursor({ streamId: 's1', nextSeq: 3, epoch: 0, lastPtsEnd: 6, updatedAt: '' }, 's1')).toBe(true);
    expect(isCursor(initialCursor('s1'), 's2')).toBe(false);
    expect(isCursor({ streamId: 's1', nextSeq: -1, epoch: 0, lastPtsEnd: null }, 's1')).toBe(false);
    expect(isCursor({ streamId: 's1', nextSeq: 1, epoch: 0, lastPtsEnd: null, sourceEnd: 'x' }, 's1')).toBe(false);
    expect(isCursor('x', 's1')).toBe(false);
  });

  it('gives a segment\'s input bitrate in kb/s, and none without a duration', () => {
    expect(segmentKbps(250_000, 2)).toBe(1000);
    expect(segmentKbps(123_456, 1.5)).toBe(658.4);
    expect(segmentKbps(1000, 0)).toBeUndefined();
    expect(segmentKbps(1000, Number.NaN)).toBeUndefined();
  });
});
