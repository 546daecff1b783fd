import type { StreamRecord, StreamView } from '@livemesh/contracts';
import { bitratesByStream, countsByStream, summarise } from './console.summary.js';
import { loadConsoleAssets } from './console-assets.controller.js';
import { sseEventOf } from './events.controller.js';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const enc = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));

describe('the console list counts each stream from three per-subject reads', () => {
  const counts = {
    segments: { 'lm.seg.watermark.a.0': 2, 'lm.seg.transcode.a.1': 1, 'lm.seg.watermark.b.0': 4 },
    output: { 'lm.out.a.main': 10, 'lm.out.b.hi': 7, 'lm.out.b.lo': 6, 'lm.out.bad..x': 99 },
    deadLetter: { 'lm.dlq.transcode.a': 1 },
  };

  it('adds waiting per hop, takes the largest rendition, sums dead letters', () => {
    const by = countsByStream(counts);
    expect(by.get('a')).toEqual({ pending: 3, out: 10, dead: 1 });
    expect(by.get('b')).toEqual({ pending: 4, out: 7, dead: 0 });
    expect(by.has('bad')).toBe(false);
  });

  it('makes a row per view with pipeline, source and segments in = out + waiting + dead', () => {
    const view = (id: string) => ({ id, state: 'live', chain: { version: 2, hops: [{ service: 'watermark' }, { service: 'transcode' }] } }) as unknown as StreamView;
    const records = new Map<string, StreamRecord>([
      ['a', { createdAt: '2026-01-01T00:00:00Z', request: { id: 'a', pipeline: 'esports' } } as unknown as StreamRecord],
      ['b', { createdAt: '2026-01-01T00:00:01Z', request: { id: 'b', source: { url: 'srt://x' }, stages: [] } } as unknown as StreamRecord],
    ]);
    const rows = summarise([view('a'), view('b'), view('c')], records, counts, new Map());
    expect(rows.map((r) => [r.id, r.pipeline, r.source, r.segmentsIn, r.segmentsOut, r.pending, r.deadLetters, r.services.join('>'), r.chainVersion])).toEqual([
      ['a', 'esports', 'publish', 14, 10, 3, 1, 'watermark>transcode', 2],
      ['b', 'custom', 'pull', 11, 7, 4, 0, 'watermark>transcode', 2],
      ['c', 'auto', 'publish', 0, 0, 0, 0, 'watermark>transcode', 2],
    ]);
    expect(rows.some((r) => 'inputKbps' in r)).toBe(false);
  });

  it('gives each row the input bitrate of its ingest cursor, and none for a stream without one', () => {
    const bitrates = bitratesByStream([
      { streamId: 'a', nextSeq: 3, inputKbps: 812.5 },
      { streamId: 'b', nextSeq: 1 },
      { streamId: 'c', inputKbps: Number.NaN },
      { streamId: 'd', inputKbps: -1 },
      { streamId: 'bad.id', inputKbps: 5 },
      null,
    ]);
    expect([...bitrates]).toEqual([['a', 812.5]]);
    const view = (id: string) => ({ id, state: 'live', chain: { version: 1, hops: [] } }) as unknown as StreamView;
    const rows = summarise([view('a'), view('b')], new Map(), { segments: {}, output: {}, deadLetter: {} }, bitrates);
    expect(rows.map((r) => r.inputKbps)).toEqual([812.5, undefined]);
  });
});

describe('the event stream passes on only what its subject says it is', () => {
  it('passes a stream event and a service event', () => {
    expect(sseEventOf('lm.evt.stream.room-1.publishing', enc({ streamId: 'room-1', kind: 'publishing', at: 'now', data: { source: 'rtmp' } }))).toEqual({
      name: 'stream',
      body: { streamId: 'room-1', kind: 'publishing', at: 'now', data: { source: 'rtmp' } },
    });
    expect(sseEventOf('lm.evt.service.transcode.autoscaled', enc({ service: 'transcode', kind: 'autoscaled', at: 'now', data: {} }))?.name).toBe('service');
  });

  it('drops a body for another stream or kind, a platform event, bad JSON and an oversized event', () => {
    expect(sseEventOf('lm.evt.stream.room-1.publishing', enc({ streamId: 'room-2', kind: 'publishing', at: 'now' }))).toBeUndefined();
    expect(sseEventOf('lm.evt.stream.room-1.publishing', enc({ streamId: 'room-1', kind: 'ended', at: 'now' }))).toBeUndefined();
    expect(sseEventOf('lm.evt.platform.stream.started', enc({ id: 'x', kind: 'started', at: 'now', publish: { key: 'secret' } }))).toBeUndefined();
    expect(sseEventOf('lm.evt.stream.room-1.publishing', new TextEncoder().encode('{not json'))).toBeUndefined();
    expect(sseEventOf('lm.evt.stream.room-1.publishing', enc({ streamId: 'room-1', kind: 'publishing', at: 'now', message: 'x'.repeat(70_000) }))).toBeUndefined();
  });
});

describe('the console bundle is served from a fixed list of files', () => {
  it('maps each built file to its /console/ path and nothing else', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'console-assets-'));
    try {
      await mkdir(join(dir, 'assets'));
      await writeFile(join(dir, 'index.html'), '<!doctype html>');
      await writeFile(join(dir, 'assets', 'index-abc.js'), 'export {}');
      const assets = loadConsoleAssets(dir);
      expect([...assets.keys()].sort()).toEqual(['/console/assets/index-abc.js', '/console/index.html']);
      expect(assets.get('/console/index.html')?.type).toBe('text/html; charset=utf-8');
      expect(assets.get('/console/assets/index-abc.js')?.type).toBe('text/javascript; charset=utf-8');
      expect(loadConsoleAssets(join(dir, 'missing')).size).toBe(0);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
