// The orchestrator restarts in the middle of a live stream. With the process runtime its workers are
// its children and stop with it, so while it is down segments queue in JetStream; once it is back
// it re-ensures the services of every live stream (StreamsReconciler) and the queued segments are
// processed in order: the HLS output has every segment and no gap. A replica count an operator set
// before the restart is restored.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Bus } from '@livemesh/bus';
import { subjects, type SegmentsDroppedData, type StreamEvent } from '@livemesh/contracts';
import { assertContinuous, generateClip, probeHls, publishRtmp } from '../support/media.js';
import { startMesh, waitForSegments, type Mesh } from '../support/mesh.js';
import { waitFor } from '../support/wait.js';

describe('orchestrator restart mid-stream (real mesh, process runtime)', () => {
  let mesh: Mesh;
  let nc: Bus;
  let dir: string;
  let clip: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'livemesh-restart-'));
    clip = await generateClip({ seconds: 20, width: 640, height: 360, fps: 25, out: join(dir, 'src.flv') });
    // A window longer than the clip keeps every segment in the playlist, so all of them are checked.
    mesh = await startMesh({ HLS_WINDOW: '30' });
    nc = await mesh.connectBus('e2e-restart');
  });

  afterAll(async () => {
    await nc?.close();
    await mesh?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('re-ensures the services of a live stream and the operator\'s replica count after a restart; segments queued meanwhile come out continuous, or marked where dropped past the budget', async () => {
    const stream = await mesh.startStream({ id: 'restart-1' });
    const hop0 = stream.chain.hops[0]!.subject;
    const encoder = publishRtmp(clip, stream.publish.rtmp, { realtime: true });
    const delivery = `${mesh.env.DELIVERY_URL}/hls/restart-1/index.m3u8`;
    await waitForSegments(delivery, 2, 60_000);
    // An operator scaled transcode up; the count must come back with the orchestrator.
    const scaled = await mesh.api('POST', '/api/services/transcode/scale', { replicas: 2 });
    expect(scaled.body.instances).toHaveLength(2);

    // Segments that wait past the stream's latency budget while no worker runs are dropped with an
    // event, not worked late: the playlist then marks exactly those (issue 13's rule for a restart).
    const dropped = new Set<number>();
    const drops = nc.subscribe(subjects.streamEvent('restart-1', 'segments-dropped'), {
      callback: (err, m) => {
        const d = err ? undefined : (m.json<StreamEvent>().data as SegmentsDroppedData | undefined);
        for (let seq = d?.from ?? 0; d && seq <= d.to; seq++) dropped.add(seq);
      },
    });
    await nc.flush();

    // SIGTERM: the orchestrator closes its runtime, whose workers drain and stop.
    await mesh.stopApp('orchestrator');

    // Ingest goes on publishing; with no worker left, segments wait on hop 0's subject.
    await waitFor('segments queued on hop 0 while the orchestrator is down', 30_000, async () => {
      const info = await nc.streamInfo('LM_SEG', { subjects: hop0 });
      const queued = info.subjects?.[hop0] ?? 0;
      return queued >= 2 ? queued : undefined;
    });

    const again = await mesh.startApp('orchestrator');
    // One service: the default chain runs fused on watermark's workers, and transcode (fused into
    // it) got no start instruction before the restart either.
    await again.waitForLine(/reconciled 1 live stream\(s\) over 1 service\(s\)/, 30_000);
    await again.waitForLine(/service=transcode replicas=2 restored/, 30_000);
    const instances = await mesh.api('GET', '/api/services/transcode/instances');
    expect(instances.body.instances).toHaveLength(2);
    const view = await mesh.api('GET', '/api/streams/restart-1');
    expect(view.body).toMatchObject({ state: 'live', chain: { version: 1 } });

    const { code, stderr } = await encoder;
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    // Everything queued has been through the chain once hop 0 and hop 1 hold nothing.
    await waitFor('the chain to empty', 90_000, async () => {
      let pending = 0;
      for (const hop of stream.chain.hops) {
        const info = await nc.streamInfo('LM_SEG', { subjects: hop.subject });
        pending += info.subjects?.[hop.subject] ?? 0;
      }
      return pending === 0 ? true : undefined;
    });
    const stopped = await mesh.api('DELETE', '/api/streams/restart-1');
    expect(stopped.body.state).toBe('ended');

    drops.unsubscribe();

    const hls = await probeHls(`${mesh.apiUrl}/hls/restart-1/index.m3u8`);
    expect(hls.mediaSequence).toBe(0);
    expect(hls.segments.map((s) => s.sequence)).toEqual(hls.segments.map((_, i) => i));
    // Every seq cut is listed unless an event said it was dropped; a discontinuity stands exactly
    // where listed seqs skip, and the media between two is continuous.
    const seqOf = (uri: string) => Number(/(\d+)\.ts$/.exec(uri)?.[1]);
    const listed = hls.segments.map((seg) => seqOf(seg.uri));
    const last = Math.max(...listed);
    console.log(`orchestrator restart: listed ${listed.length} of seq 0..${last}; dropped past the budget with an event: [${[...dropped].sort((a, b) => a - b).join(',')}]`);
    expect(listed).toEqual(Array.from({ length: last + 1 }, (_, i) => i).filter((seq) => !dropped.has(seq)));
    const runs: typeof hls.segments[] = [];
    hls.segments.forEach((seg, i) => {
      expect({ seq: listed[i], discontinuity: seg.discontinuityBefore }).toEqual({ seq: listed[i], discontinuity: i > 0 && listed[i]! !== listed[i - 1]! + 1 });
      if (i === 0 || seg.discontinuityBefore) runs.push([]);
      runs.at(-1)!.push(seg);
    });
    for (const run of runs) assertContinuous({ ...hls, discontinuity: false, segments: run }, { size: { width: 854, height: 480 }, audio: true, minSegments: 1 });
    // The whole clip came through, listed or dropped with an event.
    expect(last + 1).toBeGreaterThanOrEqual(8);
  });
});
