import { Logger } from '@nestjs/common';
import { loadProcessEnv, type Segment } from '@livemesh/contracts';
import { BadCheckpointError, decodePosition, decodeStreamCheckpoint, streamCheckpointKey } from './checkpoint.codec.js';
import { DeliveryMetrics } from './delivery.metrics.js';
import { HlsPlaylist } from './hls.playlist.js';
import { HlsRegistry } from './hls.registry.js';
import { Refusals } from './refusals.js';

beforeAll(() => Logger.overrideLogger(false));

function segment(seq: number, opts: { epoch?: number; ref?: number; rendition?: string } = {}): Segment {
  return {
    meta: { streamId: 's1', rendition: opts.rendition ?? 'main', seq, hop: 1, pts: seq * 2, duration: 2, ingestTime: Date.now(), epoch: opts.epoch ?? 0, chainVersion: 1 },
    data: new Uint8Array(1000 + seq),
  };
}

function registry(): HlsRegistry {
  const env = Object.assign(loadProcessEnv('delivery', {}), { HLS_WINDOW: 3, DELIVERY_KEEP_SECONDS: 60, OUTPUT_RETENTION_SECONDS: 600 });
  const metrics = new DeliveryMetrics();
  return new HlsRegistry(env, metrics, new Refusals(metrics));
}

/** A checkpoint through JSON and the codec, as it comes back from the KV bucket. */
const roundTrip = (value: unknown) => decodeStreamCheckpoint(JSON.parse(JSON.stringify(value)), streamCheckpointKey('s1'));

describe('delivery checkpoints', () => {
  it('restores a playlist that renders the same and goes on with the same media and discontinuity sequence', () => {
    const before = registry();
    // 0..5, a skipped seq 6 (gap marker), an epoch change at 9: windows slide, discontinuities count.
    for (const seq of [0, 1, 2, 3, 4, 5]) before.accept(segment(seq), { ref: 100 + seq });
    before.markGap({ ...segment(6).meta, gap: 'late' });
    for (const seq of [7, 8]) before.accept(segment(seq), { ref: 100 + seq });
    before.accept(segment(9, { epoch: 1 }), { ref: 109 });
    const [cp] = before.checkpoints(109, false);
    expect(cp).toMatchObject({ streamId: 's1', resumeAfter: 109 });

    const after = registry();
    after.restore(roundTrip(cp));
    const text = before.playlist('s1', 'main')!.render();
    expect(after.playlist('s1', 'main')!.render()).toBe(text);
    expect(text).toContain('#EXT-X-MEDIA-SEQUENCE:6');
    // Bytes are not in a checkpoint: a restored entry names where they are.
    expect(after.segment('s1', 'main', 9)).toMatchObject({ ref: 109, bytes: 1009 });
    expect(after.segment('s1', 'main', 9)?.data).toBeUndefined();
    // The time-shift index is restored too (from seq 0), and so is the bandwidth.
    expect(after.playlist('s1', 'main')!.renderFrom(0)).toBe(before.playlist('s1', 'main')!.renderFrom(0));
    expect(after.playlist('s1', 'main')!.bandwidth()).toEqual(before.playlist('s1', 'main')!.bandwidth());

    // Both go on alike: the next seq is listed; a seq already listed is a duplicate.
    for (const r of [before, after]) {
      r.accept(segment(10, { epoch: 1 }), { ref: 110 });
      r.accept(segment(8), { ref: 111 });
    }
    expect(after.playlist('s1', 'main')!.render()).toBe(before.playlist('s1', 'main')!.render());
    expect(after.playlist('s1', 'main')!.render()).toContain('#EXT-X-MEDIA-SEQUENCE:7');
  });

  it('resumes before a segment still waiting in the reorder buffer, so it is read again', () => {
    const r = registry();
    r.accept(segment(0), { ref: 10 });
    r.accept(segment(2), { ref: 12 });
    expect(r.checkpoints(12, false)[0]!.resumeAfter).toBe(11);
  });

  it('writes only the streams changed since the last round', () => {
    const r = registry();
    r.accept(segment(0), { ref: 10 });
    expect(r.checkpoints(10, true)).toHaveLength(1);
    expect(r.checkpoints(10, true)).toHaveLength(0);
    r.accept(segment(1), { ref: 11 });
    expect(r.checkpoints(11, true)).toHaveLength(1);
    // A quiet stream is written again after a while, so its resume point follows the position.
    expect(r.checkpoints(20, true, Date.now() + 31_000)).toMatchObject([{ resumeAfter: 20 }]);
  });

  it('keeps an ended playlist ended', () => {
    const r = registry();
    r.accept(segment(0), { ref: 10 });
    r.end('s1', 0);
    const after = registry();
    after.restore(roundTrip(r.checkpoints(10, false)[0]));
    expect(after.playlist('s1', 'main')!.ended).toBe(true);
    expect(after.playlist('s1', 'main')!.render()).toContain('#EXT-X-ENDLIST');
  });

  it('restores into a smaller window by sliding the oldest entries out', () => {
    const p = new HlsPlaylist({ window: 5, archiveSeconds: 600 });
    for (let seq = 0; seq < 5; seq++) p.push({ seq, duration: 2, pts: seq * 2, ingestTime: Date.now(), epoch: 0, data: new Uint8Array(10), ref: seq });
    const q = HlsPlaylist.restore({ window: 3, archiveSeconds: 600 }, roundTrip({ kind: 'stream', streamId: 's1', resumeAfter: 4, lastIngestTime: 0, pendingGaps: [], renditions: { main: p.checkpoint() }, takenAt: 'x' }).renditions.main!);
    expect(q.render()).toContain('#EXT-X-MEDIA-SEQUENCE:2');
    expect(q.listed.map((e) => e.seq)).toEqual([2, 3, 4]);
  });

  it('refuses what delivery could not have written', () => {
    const good = (() => {
      const r = registry();
      r.accept(segment(0), { ref: 10 });
      return JSON.parse(JSON.stringify(r.checkpoints(10, false)[0])) as Record<string, unknown>;
    })();
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- a test pokes at any field of the JSON
    const bad = (patch: (v: Record<string, any>) => void): (() => unknown) => () => {
      const v = structuredClone(good);
      patch(v);
      return decodeStreamCheckpoint(v, streamCheckpointKey('s1'));
    };
    expect(bad(() => undefined)()).toMatchObject({ streamId: 's1' });
    expect(bad((v) => (v.streamId = 's2'))).toThrow(BadCheckpointError);
    expect(bad((v) => (v.resumeAfter = -1))).toThrow(/resumeAfter/);
    expect(bad((v) => (v.renditions['not a token'] = v.renditions.main))).toThrow(/token/);
    expect(bad((v) => (v.renditions.main.nextSeq = 1e300))).toThrow(/nextSeq/);
    expect(bad((v) => (v.renditions.main.entries = [v.renditions.main.entries[0], v.renditions.main.entries[0]]))).toThrow(/rise/);
    expect(bad((v) => (v.renditions.main.gaps = new Array(5000).fill(1)))).toThrow(/gaps/);
    expect(bad((v) => (v.renditions.main.mediaSequence = 7))).toThrow(/media sequence/);
    expect(() => decodePosition({ kind: 'position', lastSeq: 'x' })).toThrow(BadCheckpointError);
    expect(decodePosition({ kind: 'position', lastSeq: 5, takenAt: 't' }).lastSeq).toBe(5);
  });
});
