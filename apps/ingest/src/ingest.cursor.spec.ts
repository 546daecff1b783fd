import { advanceCursor, cursorKey, initialCursor, isCursor, placeSegment } from './ingest.cursor.js';

describe('ingest cursor', () => {
  it('numbers segments from 0 and keeps the epoch while the timeline goes on', () => {
    let c = initialCursor('s1');
    const a = placeSegment(c, 0, 2.021);
    expect(a).toEqual({ seq: 0, epoch: 0, pts: 0, duration: 2.021 });
    c = advanceCursor(c, a);
    const b = placeSegment(c, 2.021, 4.021);
    expect(b).toEqual({ seq: 1, epoch: 0, pts: 2.021, duration: 2 });
    c = advanceCursor(c, b);
    expect(c.nextSeq).toBe(2);
    expect(c.lastPtsEnd).toBeCloseTo(4.021);
  });

  it('raises the epoch when the timeline restarts, and keeps counting seq', () => {
    let c = advanceCursor(initialCursor('s1'), { seq: 7, epoch: 0, pts: 14, duration: 2 });
    const restarted = placeSegment(c, 0, 2);
    expect(restarted).toEqual({ seq: 8, epoch: 1, pts: 0, duration: 2 });
    c = advanceCursor(c, restarted);
    expect(placeSegment(c, 2, 4).epoch).toBe(1);
  });

  it('does not take float noise for a restart', () => {
    const c = advanceCursor(initialCursor('s1'), { seq: 0, epoch: 0, pts: 0, duration: 2.000001 });
    expect(placeSegment(c, 2, 4).epoch).toBe(0);
  });

  it('clamps a negative start to 0', () => {
    expect(placeSegment(initialCursor('s1'), -0.02, 2)).toMatchObject({ pts: 0, duration: 2.02 });
  });

  it('keys a cursor by the stream id (in its own bucket) and refuses a bad id', () => {
    expect(cursorKey('s1')).toBe('s1');
    expect(() => cursorKey('a.b')).toThrow(/not a valid name/);
  });

  it('validates what comes back from KV', () => {
    expect(isCursor(advanceCursor(initialCursor('s1'), { seq: 0, epoch: 0, pts: 0, duration: 2 }), 's1')).toBe(true);
    expect(isCursor(initialCursor('s1'), 's2')).toBe(false);
    expect(isCursor({ streamId: 's1', nextSeq: -1, epoch: 0, lastPtsEnd: null }, 's1')).toBe(false);
    expect(isCursor('x', 's1')).toBe(false);
  });
});
