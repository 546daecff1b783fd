// Workers under faults, through the whole mesh (RTMP -> ingest -> workers of the process runtime ->
// delivery -> HLS): a worker SIGKILLed in the middle of a segment loses nothing (JetStream hands
// the segment to the replacement after the ack wait), a media engine SIGKILLed in the middle of a
// segment loses nothing either (the worker retries on a fresh engine), one that dies on every
// attempt ends in the dead-letter subject while the stream goes on, and two replicas of one
// service share a stream's segments while the output stays in order and continuous.
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BUCKETS, SEGMENT_HEADERS, subjects, type StreamEvent, type WorkerHeartbeat } from '@livemesh/contracts';
import { Bus, JsonStore } from '@livemesh/bus';
import { assertContinuous, generateClip, probeHls, publishRtmp } from '../support/media.js';
import { startMesh, waitForSegments, type Mesh } from '../support/mesh.js';
import { cpuTicks } from '../support/processes.js';
import { waitFor } from '../support/wait.js';

/** Children of a process by name. */
function childrenNamed(pid: number, name: string): number[] {
  const r = spawnSync('pgrep', ['-P', String(pid), '-x', name], { encoding: 'utf8' });
  return r.stdout.split('\n').filter(Boolean).map(Number);
}

/**
 * The worker's warm media engine while it is in the middle of a segment: it uses CPU only then
 * (between segments it waits on its stdin), so two readings 40 ms apart tell.
 */
async function busyEngine(workerPid: number): Promise<number | undefined> {
  for (const pid of childrenNamed(workerPid, 'lm-engine')) {
    const a = cpuTicks(pid);
    await new Promise((r) => setTimeout(r, 40));
    const b = cpuTicks(pid);
    if (a !== undefined && b !== undefined && b > a) return pid;
  }
  return undefined;
}

async function firstHeartbeat(workers: JsonStore<WorkerHeartbeat>, service: string): Promise<WorkerHeartbeat> {
  return waitFor(`a ${service} heartbeat`, 30_000, async () => {
    for (const key of await workers.keys(`${service}.>`)) {
      const v = (await workers.get(key))?.value;
      if (v) return v;
    }
    return undefined;
  });
}

/** Seqs seen on a subject (core subscription: JetStream publishes reach it too). */
function seqsOn(bus: Bus, subject: string): { seqs: number[]; stop(): void } {
  const seqs: number[] = [];
  const sub = bus.subscribe(subject);
  void (async () => {
    for await (const m of sub) seqs.push(Number(m.headers?.get(SEGMENT_HEADERS.seq)));
  })();
  return { seqs, stop: () => sub.unsubscribe() };
}

const sorted = (xs: number[]) => [...new Set(xs)].sort((a, b) => a - b);

describe('workers under faults, through the mesh', () => {
  let mesh: Mesh;
  let bus: Bus;
  let dir: string;
  let clip: string;
  let workers: JsonStore<WorkerHeartbeat>;
  const events: StreamEvent[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'livemesh-faults-'));
    // 12 s, key frame every second: ingest cuts six ~2 s segments.
    clip = await generateClip({ seconds: 12, width: 480, height: 270, fps: 25, out: join(dir, 'src.flv') });
    // A short ack wait: a segment held by a dead worker comes back after 2.5 s instead of 30 s.
    // A long playlist window: every segment of the stream stays listed for the continuity check.
    mesh = await startMesh({ STAGE_ACK_WAIT_MS: '2500', HLS_WINDOW: '30', MEDIA_TIMEOUT_MS: '60000' });
    bus = await mesh.connectBus('worker-faults-e2e');
    workers = bus.store(BUCKETS.workers);
    const sub = bus.subscribe(subjects.streamEvents());
    void (async () => {
      for await (const m of sub) events.push(m.json<StreamEvent>());
    })();
  }, 120_000);

  afterAll(async () => {
    await bus?.close();
    await mesh?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  }, 60_000);

  it('loses no segment when a worker is SIGKILLed mid-segment: the replacement finishes it and HLS has no gap', async () => {
    const stream = await mesh.startStream({ id: 'kill9', stages: [{ service: 'watermark', params: { text: 'kill -9' } }] });
    const inputs = seqsOn(bus, stream.chain.hops[0]!.subject);
    const outputs = seqsOn(bus, subjects.output('kill9', 'main'));
    await bus.flush();
    const hb = await firstHeartbeat(workers, 'watermark');

    const encoder = publishRtmp(clip, stream.publish.rtmp, { realtime: true });
    // Kill once a segment has come out and the worker is inside the next one (its engine is busy).
    await waitFor('a first output segment', 60_000, () => outputs.seqs.length > 0);
    // The check and the kill in one step: a segment on the input with no output yet, and the
    // engine working on it right now (a light 270p segment takes only ~0.1 s).
    const inFlightSeqs = await waitFor(`worker ${hb.workerId} (pid ${hb.pid}) in the middle of a segment`, 30_000, async () => {
      if ((await busyEngine(hb.pid)) === undefined) return undefined;
      const open = sorted(inputs.seqs).filter((s) => !outputs.seqs.includes(s));
      if (open.length === 0) return undefined;
      process.kill(hb.pid, 'SIGKILL');
      return open;
    }, { intervalMs: 10 });
    await mesh.apps.orchestrator.waitForLine(new RegExp(`worker=${hb.workerId} exited .*SIGKILL`), 10_000);

    const { code, stderr } = await encoder;
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    await waitFor('every ingested segment on the output', 60_000, () =>
      inputs.seqs.length >= 6 && sorted(outputs.seqs).join() === sorted(inputs.seqs).join());
    expect(inFlightSeqs.length).toBeGreaterThan(0);
    expect(sorted(outputs.seqs)).toEqual(Array.from({ length: sorted(inputs.seqs).length }, (_, i) => i));

    const n = sorted(inputs.seqs).length;
    await waitForSegments(stream.playback.hls, n, 30_000);
    const hls = await probeHls(stream.playback.hls);
    expect(hls.segments).toHaveLength(n);
    assertContinuous(hls, { size: { width: 480, height: 270 }, audio: true, minSegments: n });
    expect(events.filter((e) => e.streamId === 'kill9' && (e.kind === 'dead-letter' || e.kind === 'segment-failed'))).toEqual([]);
    inputs.stop();
    outputs.stop();
  }, 150_000);

  it('loses no segment when the media engine is SIGKILLed mid-segment: the worker retries on a fresh engine', async () => {
    // Up-scaling to 720p keeps the engine busy for a good part of each segment, so the kill lands inside one.
    const stream = await mesh.startStream({ id: 'engine9', stages: [{ service: 'scale', params: { width: 1280, height: 720 } }] });
    const inputs = seqsOn(bus, stream.chain.hops[0]!.subject);
    const outputs = seqsOn(bus, subjects.output('engine9', 'main'));
    await bus.flush();
    const hb = await firstHeartbeat(workers, 'scale');

    const encoder = publishRtmp(clip, stream.publish.rtmp, { realtime: true });
    await waitFor('a first output segment', 60_000, () => outputs.seqs.length > 0);
    const engine = await waitFor('the scale engine in the middle of a segment', 30_000, () => busyEngine(hb.pid), { intervalMs: 20 });
    process.kill(engine, 'SIGKILL');

    const { code, stderr } = await encoder;
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    await waitFor('every ingested segment on the output', 60_000, () =>
      inputs.seqs.length >= 6 && sorted(outputs.seqs).join() === sorted(inputs.seqs).join());
    // The worker itself lived on, and said why it retried.
    expect(cpuTicks(hb.pid)).toBeDefined();
    expect(mesh.apps.orchestrator.lines.some((l) => /streamId=engine9 .*attempt 1\/\d+ failed, retrying.*engine/i.test(l))).toBe(true);
    const n = sorted(inputs.seqs).length;
    await waitForSegments(stream.playback.hls, n, 30_000);
    assertContinuous(await probeHls(stream.playback.hls), { size: { width: 1280, height: 720 }, audio: true, minSegments: n });
    expect(events.filter((e) => e.streamId === 'engine9' && (e.kind === 'dead-letter' || e.kind === 'segment-failed'))).toEqual([]);
    inputs.stop();
    outputs.stop();
  }, 150_000);

  it('dead-letters a segment whose engine dies on every attempt, with an event, and the stream goes on', async () => {
    const stream = await mesh.startStream({ id: 'engine-dlq', stages: [{ service: 'scale', params: { width: 1280, height: 720 } }] });
    const outputs = seqsOn(bus, subjects.output('engine-dlq', 'main'));
    const dead = seqsOn(bus, subjects.deadLetter('scale', 'engine-dlq'));
    await bus.flush();
    const hb = await firstHeartbeat(workers, 'scale');
    // Real time: one segment every 2 s, so the killer below catches the attempts of one segment.
    const encoder = publishRtmp(clip, stream.publish.rtmp, { realtime: true });
    await waitFor('a first output segment', 60_000, () => outputs.seqs.length > 0);
    // Kill the engine whenever it works, until a segment has been given up (STAGE_MAX_ATTEMPTS=3).
    const killed: number[] = [];
    await waitFor('a dead letter', 60_000, async () => {
      const busy = await busyEngine(hb.pid);
      if (busy !== undefined) {
        process.kill(busy, 'SIGKILL');
        killed.push(busy);
      }
      return dead.seqs.length > 0 ? true : undefined;
    }, { intervalMs: 10 });
    const lost = dead.seqs[0]!;
    const event = await waitFor('its dead-letter event', 10_000, () => events.find((e) => e.streamId === 'engine-dlq' && e.kind === 'dead-letter'));
    expect(event).toMatchObject({ seq: lost, service: 'scale', data: { code: 'LM_ENGINE_CRASHED', attempts: 3 } });
    expect(killed.length).toBeGreaterThanOrEqual(3);
    // The stream goes on: a later segment comes out once the killing stops.
    await encoder;
    await waitFor('a segment after the dead letter on the output', 60_000, () => outputs.seqs.some((s) => s > lost));
    outputs.stop();
    dead.stop();
  }, 150_000);

  it('shares one stream between two replicas of transcode and keeps the output in order', async () => {
    const scaled = await mesh.api('POST', '/api/services/transcode/scale', { replicas: 2 });
    expect(scaled.status).toBe(200);
    expect(scaled.body.instances).toHaveLength(2);
    await waitFor('two transcode heartbeats', 30_000, async () => (await workers.keys('transcode.>')).length === 2);

    const stream = await mesh.startStream({ id: 'pair', stages: [{ service: 'transcode', params: { width: 320, height: 180, videoBitrateKbps: 300 } }] });
    const inputs = seqsOn(bus, stream.chain.hops[0]!.subject);
    const outputs = seqsOn(bus, subjects.output('pair', 'main'));
    await bus.flush();
    // Faster than real time: segments queue up, so both replicas have work at once.
    const { code } = await publishRtmp(clip, stream.publish.rtmp);
    expect(code).toBe(0);
    await waitFor('every ingested segment on the output', 90_000, () =>
      inputs.seqs.length >= 6 && sorted(outputs.seqs).join() === sorted(inputs.seqs).join());

    const byWorker = await waitFor('both replicas reporting processed segments', 20_000, async () => {
      const beats = await Promise.all((await workers.keys('transcode.>')).map(async (k) => (await workers.get(k))?.value));
      const counts = beats.filter((b): b is WorkerHeartbeat => b !== undefined).map((b) => b.processed);
      return counts.length === 2 && counts.every((c) => c > 0) && counts.reduce((a, b) => a + b, 0) >= inputs.seqs.length ? counts : undefined;
    });
    expect(byWorker).toHaveLength(2);

    const n = sorted(inputs.seqs).length;
    await waitForSegments(stream.playback.hls, n, 30_000);
    const hls = await probeHls(stream.playback.hls);
    expect(hls.segments.map((s) => s.sequence)).toEqual(Array.from({ length: n }, (_, i) => hls.mediaSequence + i));
    assertContinuous(hls, { size: { width: 320, height: 180 }, audio: true, minSegments: n });
    inputs.stop();
    outputs.stop();
  }, 150_000);
});
