import { BoundedQueue, DropRuns } from './segment.queue.js';

const seg = (seq: number, bytes = 100) => ({ seq, bytes });
const seqs = (items: readonly { seq: number }[]) => items.map((i) => i.seq);

describe('BoundedQueue', () => {
  it('holds up to maxSegments and evicts the oldest beyond, returning them oldest first', () => {
    const q = new BoundedQueue<{ seq: number; bytes: number }>({ maxSegments: 3, maxBytes: 1e9 });
    for (const n of [0, 1, 2]) expect(q.push(seg(n))).toEqual([]);
    expect(seqs(q.push(seg(3)))).toEqual([0]);
    expect(seqs(q.push(seg(4)))).toEqual([1]);
    expect(seqs(q.entries())).toEqual([2, 3, 4]);
    expect(q.length).toBe(3);
    expect(q.bytes).toBe(300);
  });

  it('evicts by bytes too, as many as it takes', () => {
    const q = new BoundedQueue<{ seq: number; bytes: number }>({ maxSegments: 100, maxBytes: 1000 });
    for (const n of [0, 1, 2, 3]) q.push(seg(n, 250));
    expect(seqs(q.push(seg(4, 600)))).toEqual([0, 1, 2]);
    expect(seqs(q.entries())).toEqual([3, 4]);
    expect(q.bytes).toBe(850);
  });

  it('keeps a single segment larger than maxBytes (the bound is then over by that one segment)', () => {
    const q = new BoundedQueue<{ seq: number; bytes: number }>({ maxSegments: 5, maxBytes: 1000 });
    q.push(seg(0, 400));
    expect(seqs(q.push(seg(1, 5000)))).toEqual([0]);
    expect(seqs(q.entries())).toEqual([1]);
  });

  it('never evicts a pinned head (a publish of it is under way); unpinned, it goes first', () => {
    const q = new BoundedQueue<{ seq: number; bytes: number }>({ maxSegments: 3, maxBytes: 1e9 });
    for (const n of [0, 1, 2]) q.push(seg(n));
    expect(q.pinHead()?.seq).toBe(0);
    expect(seqs(q.push(seg(3)))).toEqual([1]);
    expect(seqs(q.push(seg(4)))).toEqual([2]);
    expect(seqs(q.entries())).toEqual([0, 3, 4]);
    q.unpin();
    expect(seqs(q.push(seg(5)))).toEqual([0]);
    expect(q.shift()?.seq).toBe(3);
    expect(q.bytes).toBe(200);
  });

  it('stays at its bound however long the outage: memory is bounded', () => {
    const q = new BoundedQueue<{ seq: number; bytes: number }>({ maxSegments: 20, maxBytes: 64 * 1024 * 1024 });
    let evicted = 0;
    for (let n = 0; n < 10_000; n++) evicted += q.push(seg(n, 1_500_000)).length;
    expect(q.length).toBeLessThanOrEqual(20);
    expect(q.bytes).toBeLessThanOrEqual(64 * 1024 * 1024);
    expect(evicted + q.length).toBe(10_000);
    expect(q.entries().at(-1)?.seq).toBe(9_999);
  });

  it('refuses limits that cannot work', () => {
    expect(() => new BoundedQueue({ maxSegments: 1, maxBytes: 10 })).toThrow(RangeError);
    expect(() => new BoundedQueue({ maxSegments: 2, maxBytes: 0 })).toThrow(RangeError);
  });
});

describe('DropRuns', () => {
  it('makes one report per run of drops, closed by a later publish', () => {
    const d = new DropRuns();
    for (const n of [5, 6, 7, 8]) d.add(n, 'ingest-queue-full', 0);
    expect(d.take(1)).toEqual([]);
    d.published(4); // the pinned head, older than the run: the run goes on
    d.add(9, 'ingest-queue-full', 0);
    expect(d.take(1)).toEqual([]);
    d.published(10);
    expect(d.take(1)).toEqual([{ reason: 'ingest-queue-full', from: 5, to: 9, count: 5 }]);
    expect(d.pending).toBe(false);
  });

  it('starts a new run when the reason changes, and reports a long-open run after maxOpenMs', () => {
    const d = new DropRuns(10_000);
    d.add(3, 'queue-full', 0);
    d.add(4, 'queue-full', 1000);
    d.add(5, 'ingest-queue-full', 2000);
    expect(d.take(3000)).toEqual([{ reason: 'queue-full', from: 3, to: 4, count: 2 }]);
    expect(d.take(12_000)).toEqual([{ reason: 'ingest-queue-full', from: 5, to: 5, count: 1 }]);
  });

  it('keeps reports the bus did not take, in order, and bounds how many wait', () => {
    const d = new DropRuns(10_000, 3);
    for (const n of [1, 3, 5, 7, 9]) {
      d.add(n, 'queue-full', 0);
      d.published(n + 1);
    }
    const runs = d.take(0);
    expect(runs.length).toBe(3);
    expect(runs[0]).toEqual({ reason: 'queue-full', from: 1, to: 5, count: 3 });
    d.putBack(runs);
    expect(d.take(0)).toEqual(runs);
  });
});
