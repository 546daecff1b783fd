import { deriveHopCounters } from './stream.counters.js';

const hops = [
  { service: 'watermark', subject: 'lm.seg.watermark.s.0' },
  { service: 'transcode', subject: 'lm.seg.transcode.s.1' },
];

describe('deriveHopCounters', () => {
  it('counts a hop as having processed what waits or failed further down, plus what came out', () => {
    const counters = deriveHopCounters(hops, {
      pending: { 'lm.seg.watermark.s.0': 2, 'lm.seg.transcode.s.1': 3 },
      deadLettered: { transcode: 1 },
      output: { main: 10, '480p': 9 },
    });
    expect(counters).toEqual([
      { processed: 14, pending: 2, failed: 0 },
      { processed: 10, pending: 3, failed: 1 },
    ]);
  });

  it('is all zeros before any segment arrives', () => {
    expect(deriveHopCounters(hops, { pending: {}, deadLettered: {}, output: {} })).toEqual([
      { processed: 0, pending: 0, failed: 0 },
      { processed: 0, pending: 0, failed: 0 },
    ]);
  });

  it('has no hops for an ended stream', () => {
    expect(deriveHopCounters([], { pending: {}, deadLettered: {}, output: { main: 4 } })).toEqual([]);
  });
});
