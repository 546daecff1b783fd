import { ingestSegmenterArgs } from './segmenter.run.js';

describe('ingestSegmenterArgs', () => {
  const args = ingestSegmenterArgs({
    input: { url: 'rtmp://127.0.0.1:1935/live/k', protocols: ['rtmp', 'tcp'] },
    segmentSeconds: 2,
    dir: '/data/ingest/s1/run-1',
    rwTimeoutMs: 15_000,
  });
  const after = (flag: string) => args[args.indexOf(flag) + 1];

  it('copies, keeps the timeline and lists segments on stdout', () => {
    expect(args).toEqual(expect.arrayContaining(['-copyts', '-c', 'copy']));
    expect(after('-muxdelay')).toBe('0');
    expect(after('-muxpreload')).toBe('0');
    expect(after('-segment_list')).toBe('pipe:1');
    expect(after('-segment_list_type')).toBe('csv');
    expect(after('-segment_time')).toBe('2');
    expect(args[args.length - 1]).toBe('file:/data/ingest/s1/run-1/seg_%06d.ts');
  });

  it('whitelists only the source protocols and puts the timeout before -i', () => {
    expect(after('-protocol_whitelist')).toBe('rtmp,tcp');
    expect(after('-rw_timeout')).toBe('15000000');
    expect(args.indexOf('-rw_timeout')).toBeLessThan(args.indexOf('-i'));
    expect(after('-i')).toBe('rtmp://127.0.0.1:1935/live/k');
  });
});
