import { DEFAULT_BUDGET_SEGMENTS, latencyBudgetMs } from '@livemesh/contracts';
import { DropLedger, FairQueue, ProcessingEstimate, RecentStreams, lateness } from './live.schedule.js';

describe('latency budget', () => {
  it('defaults to a few segment durations, with a floor; a chain may set its own', () => {
    expect(DEFAULT_BUDGET_SEGMENTS).toBe(3);
    expect(latencyBudgetMs(undefined, 2)).toBe(6000);
    expect(latencyBudgetMs({}, 0.1)).toBe(1000);
    expect(latencyBudgetMs({ latencyBudgetMs: 15_000 }, 2)).toBe(15_000);
  });

  it('drops a segment whose age plus what the hop usually takes is past the budget, never one from a clock ahead of ours', () => {
    expect(lateness({ now: 10_000, ingestTime: 5_000, budgetMs: 6000, expectedMs: 0 })).toEqual({ late: false, ageMs: 5000 });
    expect(lateness({ now: 10_000, ingestTime: 5_000, budgetMs: 6000, expectedMs: 1500 })).toEqual({ late: true, ageMs: 5000 });
    expect(lateness({ now: 10_000, ingestTime: 3_000, budgetMs: 6000, expectedMs: 0 }).late).toBe(true);
    expect(lateness({ now: 10_000, ingestTime: 60_000, budgetMs: 6000, expectedMs: 0 })).toEqual({ late: false, ageMs: 0 });
    // A redelivery keeps its attempts (and ends as a dead letter if it keeps failing).
    expect(lateness({ now: 10_000, ingestTime: 0, budgetMs: 6000, expectedMs: 0, attempt: 2 })).toEqual({ late: false, ageMs: 10_000 });
    expect(lateness({ now: 10_000, ingestTime: 0, budgetMs: 6000, expectedMs: 0, attempt: 1 }).late).toBe(true);
  });

  it('estimates what a hop takes as a weighted mean that one outlier moves only a little, warming up from 0', () => {
    const e = new ProcessingEstimate(0.2);
    expect(e.ms).toBe(0);
    // Warms up from 0: a cold first segment does not set it.
    e.observe(5000);
    expect(e.ms).toBe(1000);
    e.observe(1000);
    expect(e.ms).toBe(1000);
    e.observe(6000);
    expect(e.ms).toBe(2000);
    e.observe(Number.NaN);
    e.observe(-5);
    expect(e.ms).toBe(2000);
  });
});

describe('FairQueue', () => {
  const order = (q: FairQueue<string>) => {
    const out: string[] = [];
    for (let next = q.take(); next; next = q.take()) out.push(next.item);
    return out;
  };

  it("serves streams round-robin: one stream's backlog costs another at most one item per turn", () => {
    const q = new FairQueue<string>();
    for (let i = 0; i < 5; i++) q.push('old', `old${i}`);
    q.push('new', 'new0');
    q.push('new', 'new1');
    expect(q.size).toBe(7);
    expect(order(q)).toEqual(['old0', 'new0', 'old1', 'new1', 'old2', 'old3', 'old4']);
    expect(q.size).toBe(0);
  });

  it('puts a stream that arrives later ahead of the streams served meanwhile', () => {
    const q = new FairQueue<string>();
    q.push('a', 'a0');
    q.push('a', 'a1');
    expect(q.take()!.item).toBe('a0');
    q.push('b', 'b0');
    q.push('c', 'c0');
    expect(order(q)).toEqual(['b0', 'c0', 'a1']);
  });

  it('removes what a predicate picks (late items) and drains for shutdown', () => {
    const q = new FairQueue<number>();
    for (let i = 0; i < 6; i++) q.push(i % 2 ? 'odd' : 'even', i);
    expect(q.removeWhere((n) => n < 3).sort()).toEqual([0, 1, 2]);
    expect(q.size).toBe(3);
    expect(q.streams).toBe(2);
    expect(q.drain().sort()).toEqual([3, 4, 5]);
    expect(q.size).toBe(0);
    expect(q.take()).toBeUndefined();
  });

  it('remembers a bounded number of streams', () => {
    const q = new FairQueue<number>(2);
    for (let i = 0; i < 10; i++) {
      q.push(`s${i}`, i);
      q.take();
    }
    expect((q as unknown as { served: Map<string, number> }).served.size).toBe(2);
  });
});

describe('DropLedger', () => {
  it('coalesces a run of drops into one report per stream once the run is old enough', () => {
    const l = new DropLedger(1000, 100);
    expect(l.add('a', 0, 5, 0)).toEqual([]);
    expect(l.add('a', 0, 6, 100)).toEqual([]);
    expect(l.add('b', 1, 9, 200)).toEqual([]);
    expect(l.add('a', 0, 8, 300)).toEqual([]);
    expect(l.due(900)).toEqual([]);
    expect(l.due(1000)).toEqual([{ streamId: 'a', hop: 0, from: 5, to: 8, count: 3, since: 0 }]);
    expect(l.due(5000, false)).toEqual([{ streamId: 'b', hop: 1, from: 9, to: 9, count: 1, since: 200 }]);
    expect(l.open).toBe(0);
  });

  it('reports a run at once when it is long, and closes the oldest run past the stream bound', () => {
    const l = new DropLedger(1000, 3, 2);
    l.add('a', 0, 1, 0);
    l.add('a', 0, 2, 0);
    expect(l.add('a', 0, 3, 0)).toEqual([{ streamId: 'a', hop: 0, from: 1, to: 3, count: 3, since: 0 }]);
    l.add('x', 0, 1, 0);
    l.add('y', 0, 1, 0);
    expect(l.add('z', 0, 1, 0).map((r) => r.streamId)).toEqual(['x']);
    expect(l.due(0, true).map((r) => r.streamId)).toEqual(['y', 'z']);
  });
});

describe('RecentStreams', () => {
  it('gives one held segment per other stream seen lately, capped; none for a single stream', () => {
    const r = new RecentStreams(10_000);
    expect(r.lookahead(0, 4)).toBe(0);
    r.saw('a', 0);
    r.saw('a', 1000);
    expect(r.lookahead(1000, 4)).toBe(0);
    for (const s of ['b', 'c', 'd', 'e', 'f']) r.saw(s, 2000);
    expect(r.lookahead(2000, 4)).toBe(4);
    expect(r.lookahead(2000, 2)).toBe(2);
    // a was last seen at 1 s: gone after the window; the rest at 12 s.
    expect(r.lookahead(11_500, 8)).toBe(4);
    expect(r.lookahead(12_001, 8)).toBe(0);
  });
});
