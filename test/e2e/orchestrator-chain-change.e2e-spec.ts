// A live chain change on the whole mesh: a stream starts on the default chain (watermark ->
// transcode 854x480), fused into one hop that only a watermark worker runs, and while the encoder
// keeps publishing its chain is replaced by an unfused one (`fuse: false`) with other watermark
// parameters and an extra stage in front. From the next segment on the new chain applies; ingest's
// segmenter is not restarted, and the HLS output stays one continuous playlist.
// The added stage goes first on purpose: every position then holds another service, so a segment
// in flight during the change only comes through if each hop resolves it against the chain
// version it was routed with (not the newest one), which no dead letter below proves.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Bus, decodeSegmentHeaders } from '@livemesh/bus';
import { BUCKETS } from '@livemesh/contracts';
import { assertContinuous, generateClip, probeHls, publishRtmp } from '../support/media.js';
import { startMesh, waitForSegments, type Mesh } from '../support/mesh.js';
import { waitFor } from '../support/wait.js';

describe('live chain change (real mesh)', () => {
  let mesh: Mesh;
  let nc: Bus;
  let dir: string;
  let clip: string;
  const events: { kind: string; at: string; message?: string; service?: string; seq?: number }[] = [];
  /** Every segment message published for chg-1, per subject: `<chain version>:<seq>` (core subscriptions see each publish). */
  const published = new Map<string, Set<string>>();
  /** Output seq -> the chain version it came through (gap markers left out). */
  const outputs = new Map<number, number>();

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'livemesh-chain-change-'));
    clip = await generateClip({ seconds: 16, width: 640, height: 360, fps: 25, out: join(dir, 'src.flv') });
    mesh = await startMesh({ HLS_WINDOW: '30' });
    nc = await mesh.connectBus('e2e-chain-change');
    nc.subscribe('lm.evt.stream.chg-1.>', {
      callback: (err, m) => {
        if (!err) events.push(m.json());
      },
    });
    nc.subscribe('lm.seg.*.chg-1.*', {
      callback: (err, m) => {
        if (err) return;
        const meta = decodeSegmentHeaders(m.headers);
        if (!published.has(m.subject)) published.set(m.subject, new Set());
        published.get(m.subject)!.add(`${meta.chainVersion}:${meta.seq}`);
      },
    });
    nc.subscribe('lm.out.chg-1.>', {
      callback: (err, m) => {
        if (err) return;
        const meta = decodeSegmentHeaders(m.headers);
        if (!meta.gap) outputs.set(meta.seq, meta.chainVersion);
      },
    });
    await nc.flush();
  });

  afterAll(async () => {
    await nc?.close();
    await mesh?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('applies a new chain from the next segment on, without restarting ingest, with continuous output', async () => {
    const stream = await mesh.startStream({ id: 'chg-1' });
    expect(stream.chain.hops.map((h) => [h.service, h.fusedThrough, h.fusedInto])).toEqual([['watermark', 1, undefined], ['transcode', undefined, 0]]);
    const encoder = publishRtmp(clip, stream.publish.rtmp, { realtime: true });
    const playlist = `${mesh.apiUrl}/hls/chg-1/index.m3u8`;
    await waitForSegments(playlist, 2, 60_000);
    // Fused: the watermark worker ran both stages, so no transcode worker was started for it.
    const workers = nc.store(BUCKETS.workers);
    const transcodeWorkers = async () => {
      const keys: string[] = [];
      for (const key of await workers.keys('transcode.>')) keys.push(key);
      return keys;
    };
    expect(await transcodeWorkers()).toEqual([]);

    const changed = await mesh.api('PATCH', '/api/streams/chg-1/chain', {
      stages: [{ service: 'passthrough' }, { service: 'watermark', params: { text: 'v2' } }, { service: 'transcode', params: { width: 854, height: 480 } }],
      fuse: false,
    });
    expect(changed.status).toBe(200);
    expect(changed.body.chain.version).toBe(2);
    expect(changed.body.chain.hops.map((h: { subject: string; fusedThrough?: number }) => [h.subject, h.fusedThrough])).toEqual([
      ['lm.seg.passthrough.chg-1.0', undefined],
      ['lm.seg.watermark.chg-1.1', undefined],
      ['lm.seg.transcode.chg-1.2', undefined],
    ]);

    // Changed as soon as the fused chain's output plays, so most of the 16 s clip goes through v2
    // however slow the machine is; the fused segments are still in the playlist for this probe.
    const fusedFirst = await probeHls(playlist);
    expect(fusedFirst.segments.length).toBeGreaterThanOrEqual(2);
    expect(fusedFirst.segments.map((s) => [s.width, s.height])).toEqual(fusedFirst.segments.map(() => [854, 480]));

    const { code, stderr } = await encoder;
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    await waitFor('publish-ended', 30_000, () => events.find((e) => e.kind === 'publish-ended'));

    // Segments published after the change went through the added stage, and through a transcode
    // worker of their own now that the chain is not fused.
    for (const service of ['passthrough', 'transcode']) {
      await waitFor(`a ${service} worker that processed segments`, 60_000, async () => {
        for (const key of await workers.keys(`${service}.>`)) {
          const hb = (await workers.get(key))?.value;
          if (hb && hb.processed > 0) return hb.processed;
        }
        return undefined;
      });
    }

    await waitFor('the chain to empty', 90_000, async () => {
      const info = await nc.streamInfo('LM_SEG', { subjects: 'lm.seg.*.chg-1.*' });
      return Object.keys(info.subjects ?? {}).length === 0 ? true : undefined;
    });

    const view = await mesh.api('GET', '/api/streams/chg-1');
    expect(view.body).toMatchObject({ state: 'live', chain: { version: 2 } });
    expect(view.body.chain.hops[1].params).toMatchObject({ text: 'v2' });
    expect(events.filter((e) => e.kind === 'dead-letter' || e.kind === 'segment-failed')).toEqual([]);
    // Per-hop counters: nothing waits or failed.
    const counters = view.body.chain.hops.map((h: { counters: { pending: number; failed: number } }) => ({ pending: h.counters.pending, failed: h.counters.failed }));
    expect(counters).toEqual([0, 1, 2].map(() => ({ pending: 0, failed: 0 })));
    // Every segment that came out passed every hop of the chain version it was routed with: seen
    // on each hop's subject (the counters above cannot show that: they are derived from the output).
    const out = Math.max(...(Object.values(view.body.output.segments) as number[]));
    expect(out).toBeGreaterThanOrEqual(7);
    expect([...outputs.keys()].sort((a, b) => a - b)).toEqual([...Array(outputs.size).keys()]);
    const route: Record<number, string[]> = {
      1: ['lm.seg.watermark.chg-1.0'],
      2: ['lm.seg.passthrough.chg-1.0', 'lm.seg.watermark.chg-1.1', 'lm.seg.transcode.chg-1.2'],
    };
    const missed = [...outputs].flatMap(([seq, version]) => (route[version] ?? [`an unknown chain version ${version}`]).filter((subject) => !published.get(subject)?.has(`${version}:${seq}`)).map((subject) => `seq ${seq} (v${version}) never on ${subject}`));
    expect(missed).toEqual([]);
    expect([...outputs.values()].filter((v) => v === 2).length).toBeGreaterThanOrEqual(3);

    // Ingest ran one segmenter session for the whole publish: one 'publishing', one 'publish-ended', no restart.
    expect(events.filter((e) => e.kind === 'publishing')).toHaveLength(1);
    expect(events.filter((e) => e.kind === 'publish-ended')).toHaveLength(1);
    expect(events.filter((e) => e.kind === 'chain-changed')).toHaveLength(1);
    expect(mesh.apps.ingest.lines.join('\n')).not.toMatch(/segmenter ended .* restarting/);

    expect((await mesh.api('DELETE', '/api/streams/chg-1')).body.state).toBe('ended');
    // Delivery closes the playlist when it sees the 'ended' status event.
    await waitFor('EXT-X-ENDLIST', 30_000, async () => ((await (await fetch(playlist)).text()).includes('#EXT-X-ENDLIST') ? true : undefined));
    const hls = await probeHls(playlist);
    expect(hls.segments.map((s) => s.sequence)).toEqual(hls.segments.map((_, i) => i));
    assertContinuous(hls, { size: { width: 854, height: 480 }, audio: true, minSegments: 7 });
  });
});
