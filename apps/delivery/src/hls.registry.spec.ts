import { Logger } from '@nestjs/common';
import { loadProcessEnv, type Segment } from '@livemesh/contracts';
import type { Bus } from '@livemesh/bus';
import { DeliveryMetrics } from './delivery.metrics.js';
import { HlsRegistry } from './hls.registry.js';
import { Refusals } from './refusals.js';
import { StreamEndListener } from './stream-end.listener.js';

function segment(streamId: string, rendition: string, seq: number, bytes: number, transfer?: Record<string, unknown>, ingestTime = Date.now()): Segment {
  return {
    meta: { streamId, rendition, seq, hop: 1, pts: seq * 2, duration: 2, ingestTime, epoch: 0, chainVersion: 1, transfer },
    data: new Uint8Array(bytes),
  };
}

beforeAll(() => Logger.overrideLogger(false));

function setup() {
  const env = Object.assign(loadProcessEnv('delivery', {}), { HLS_WINDOW: 3, DELIVERY_KEEP_SECONDS: 60 });
  const metrics = new DeliveryMetrics();
  const registry = new HlsRegistry(env, metrics, new Refusals(metrics));
  return { registry, metrics };
}

describe('HlsRegistry', () => {
  describe('gap markers', () => {
    const gap = (streamId: string, rendition: string, seq: number) => ({ ...segment(streamId, rendition, seq, 0).meta, gap: 'late' as const });
    const seqs = (text: string | undefined) => (text ?? '').split('\n').filter((l) => l.endsWith('.ts'));

    it("skips a marked seq in the marker's own rendition only", () => {
      const { registry } = setup();
      for (const r of ['hi', 'lo']) registry.accept(segment('s1', r, 0, 100));
      registry.markGap(gap('s1', 'hi', 1));
      for (const r of ['hi', 'lo']) registry.accept(segment('s1', r, 2, 100));
      expect(seqs(registry.playlist('s1', 'hi')?.render())).toEqual(['0.ts', '2.ts']);
      // lo still waits for its seq 1, which was not dropped.
      expect(seqs(registry.playlist('s1', 'lo')?.render())).toEqual(['0.ts']);
      registry.accept(segment('s1', 'lo', 1, 100));
      expect(seqs(registry.playlist('s1', 'lo')?.render())).toEqual(['0.ts', '1.ts', '2.ts']);
    });

    it('applies a marker dropped before a ladder (a rendition without a playlist) to every rendition, present and to come', () => {
      const { registry, metrics } = setup();
      registry.markGap(gap('s1', 'main', 0));
      registry.accept(segment('s1', 'hi', 1, 100));
      registry.markGap(gap('s1', 'main', 2));
      registry.accept(segment('s1', 'hi', 3, 100));
      registry.accept(segment('s1', 'lo', 1, 100));
      registry.accept(segment('s1', 'lo', 3, 100));
      for (const r of ['hi', 'lo']) expect(seqs(registry.playlist('s1', r)?.render())).toEqual(['1.ts', '3.ts']);
      expect(registry.playlist('s1', 'main')).toBeUndefined();
      return metrics.registry.metrics().then((text) => expect(text).toMatch(/^livemesh_delivery_segments_skipped_total 4$/m));
    });
  });

  it('serves a single rendition as the stream index with rendition-relative URIs', () => {
    const { registry } = setup();
    expect(registry.streamIndex('s1')).toBeUndefined();
    registry.accept(segment('s1', 'main', 0, 1000));
    const index = registry.streamIndex('s1');
    expect(index?.kind).toBe('media');
    expect(index?.text).toContain('\nmain/0.ts\n');
    expect(registry.playlist('s1', 'main')?.render()).toContain('\n0.ts\n');
    expect(registry.segment('s1', 'main', 0)?.data?.byteLength).toBe(1000);
  });

  it('serves several renditions through a multivariant playlist', () => {
    const { registry } = setup();
    registry.accept(segment('s1', 'main', 0, 500_000, { width: 1280, height: 720 }));
    registry.accept(segment('s1', 'low', 0, 100_000));
    const index = registry.streamIndex('s1');
    expect(index?.kind).toBe('multivariant');
    expect(index?.text).toBe(
      [
        '#EXTM3U',
        '#EXT-X-VERSION:3',
        '#EXT-X-STREAM-INF:BANDWIDTH=400000,AVERAGE-BANDWIDTH=400000',
        'low/index.m3u8',
        '#EXT-X-STREAM-INF:BANDWIDTH=2000000,AVERAGE-BANDWIDTH=2000000,RESOLUTION=1280x720',
        'main/index.m3u8',
        '',
      ].join('\n'),
    );
  });

  it('ends every rendition, then forgets the stream after the keep time', () => {
    const { registry } = setup();
    registry.accept(segment('s1', 'main', 0, 10));
    registry.accept(segment('s1', 'low', 0, 10));
    registry.end('s1', 0);
    expect(registry.streamIndex('s1')?.ended).toBe(true);
    expect(registry.playlist('s1', 'low')?.render()).toContain('#EXT-X-ENDLIST');
    registry.tick(Date.now() + 59_000);
    expect(registry.hasStream('s1')).toBe(true);
    registry.tick(Date.now() + 61_000);
    expect(registry.hasStream('s1')).toBe(false);
  });

  it('forgets a stream that went silent without an end', () => {
    const { registry } = setup();
    registry.accept(segment('s1', 'main', 0, 10));
    registry.tick(Date.now() + 61_000);
    expect(registry.hasStream('s1')).toBe(false);
  });
});

describe('HlsRegistry sessions', () => {
  const at = Date.now();

  it('ignores an end older than the stream\'s segments (an earlier session of the id)', () => {
    const { registry } = setup();
    registry.accept(segment('s1', 'main', 0, 10, undefined, at));
    registry.end('s1', 0, at - 60_000);
    expect(registry.playlist('s1', 'main')?.ended).toBe(false);
    registry.end('s1', 0, at + 500);
    expect(registry.playlist('s1', 'main')?.ended).toBe(true);
  });

  it('starts a new session of an ended id when a segment cut after the end arrives', () => {
    const { registry } = setup();
    const gone: string[] = [];
    registry.onStreamGone((id, why) => gone.push(`${id}:${why}`));
    registry.accept(segment('s1', 'main', 0, 10, undefined, at));
    registry.end('s1', 0, at + 100);
    expect(registry.streamIndex('s1')?.ended).toBe(true);
    registry.accept(segment('s1', 'main', 0, 10, undefined, at + 30_000));
    expect(registry.streamIndex('s1')?.ended).toBe(false);
    expect(registry.playlist('s1', 'main')?.listed.map((e) => e.seq)).toEqual([0]);
    expect(gone).toEqual(['s1:ended', 's1:dropped']);
  });

  it('applies an end read back before the segments it closes', () => {
    const { registry } = setup();
    registry.end('s1', 0, at + 100);
    registry.accept(segment('s1', 'main', 0, 10, undefined, at));
    expect(registry.streamIndex('s1')?.ended).toBe(true);
  });

  it('tells listeners what was listed, and whether it was read back', () => {
    const { registry } = setup();
    const seen: string[] = [];
    registry.onListed((id, r, e, replayed) => seen.push(`${id}/${r}#${e.seq}${replayed ? ' (replayed)' : ''}`));
    registry.accept(segment('s1', 'main', 0, 10), { replayed: true, ref: 7 });
    registry.accept(segment('s1', 'main', 1, 10));
    expect(seen).toEqual(['s1/main#0 (replayed)', 's1/main#1']);
  });
});

describe('StreamEndListener', () => {
  const enc = (v: unknown) => new TextEncoder().encode(typeof v === 'string' ? v : JSON.stringify(v));

  it('ends the stream named by a well-formed ended event, and nothing else', () => {
    const { registry } = setup();
    const ended: [string, number | undefined][] = [];
    registry.end = (id, lastSeq) => void ended.push([id, lastSeq]);
    const listener = new StreamEndListener({} as Bus, registry);
    listener.onEvent('lm.evt.stream.s1.ended', enc({ streamId: 's1', kind: 'ended', data: { lastSeq: 41 } }));
    listener.onEvent('lm.evt.stream.s2.ended', enc({ streamId: 's2', kind: 'ended', data: { lastSeq: -1 } }));
    listener.onEvent('lm.evt.stream.s3.thumbnail', enc({ streamId: 's3', kind: 'thumbnail' }));
    listener.onEvent('lm.evt.stream.s4.ended', enc({ streamId: 'other', kind: 'ended' }));
    listener.onEvent('lm.evt.stream.s5.ended', enc('not json'));
    listener.onEvent('lm.evt.stream.s6.ended', enc(null));
    expect(ended).toEqual([
      ['s1', 41],
      ['s2', undefined],
    ]);
  });

  it('refuses a forged seq jump and a flood of rendition names, counted, and keeps serving the stream', () => {
    const { registry, metrics } = setup();
    registry.accept(segment('s1', 'main', 0, 100));
    registry.accept(segment('s1', 'main', 1_000_000_000_000_000, 100));
    for (let r = 0; r < 40; r++) registry.accept(segment('s1', `r${r}`, 0, 10));
    registry.accept(segment('s1', 'main', 1, 100));
    expect(registry.playlist('s1', 'main')?.render()).toMatch(/\n0\.ts\n.*\n1\.ts\n$/s);
    expect(registry.liveRenditions('s1')).toHaveLength(32);
    const dropped = (metrics.dropped as unknown as { hashMap: Record<string, { value: number; labels: { reason: string } }> }).hashMap;
    const by = Object.fromEntries(Object.values(dropped).map((v) => [v.labels.reason, v.value]));
    expect(by).toMatchObject({ 'seq-too-far': 1, 'rendition-limit': 9 });
  });
});
