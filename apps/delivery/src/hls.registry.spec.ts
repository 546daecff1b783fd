import { Logger } from '@nestjs/common';
import { Env, type Segment } from '@livemesh/contracts';
import type { Bus } from '@livemesh/bus';
import { DeliveryMetrics } from './delivery.metrics.js';
import { HlsRegistry } from './hls.registry.js';
import { StreamEndListener } from './stream-end.listener.js';

function segment(streamId: string, rendition: string, seq: number, bytes: number, transfer?: Record<string, unknown>): Segment {
  return {
    meta: { streamId, rendition, seq, hop: 1, pts: seq * 2, duration: 2, ingestTime: Date.now(), epoch: 0, chainVersion: 1, transfer },
    data: new Uint8Array(bytes),
  };
}

beforeAll(() => Logger.overrideLogger(false));

function setup() {
  const env = Object.assign(new Env(), { HLS_WINDOW: 3, DELIVERY_KEEP_SECONDS: 60 });
  const registry = new HlsRegistry(env, new DeliveryMetrics());
  return { registry };
}

describe('HlsRegistry', () => {
  it('serves a single rendition as the stream index with rendition-relative URIs', () => {
    const { registry } = setup();
    expect(registry.streamIndex('s1')).toBeUndefined();
    registry.accept(segment('s1', 'main', 0, 1000));
    const index = registry.streamIndex('s1');
    expect(index?.kind).toBe('media');
    expect(index?.text).toContain('\nmain/0.ts\n');
    expect(registry.playlist('s1', 'main')?.render()).toContain('\n0.ts\n');
    expect(registry.segment('s1', 'main', 0)?.data.byteLength).toBe(1000);
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
});
