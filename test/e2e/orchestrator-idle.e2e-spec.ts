// Issue 13's stale streams, as a new user met them: streams left live with nobody publishing, then
// the orchestrator started again. After the restart a stream with no publisher ends after
// STREAM_IDLE_TIMEOUT_S with an `ended` event saying it went idle, and what it left in LM_SEG is
// purged; a stream that is still being published stays live until its encoder stops, then ends
// the same way. Real mesh: nats-server, orchestrator (process runtime), ingest, delivery, ffmpeg.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Bus } from '@livemesh/bus';
import { STREAMS, subjects, type StreamEvent } from '@livemesh/contracts';
import { generateClip, publishRtmp } from '../support/media.js';
import { startMesh, waitForSegments, type Mesh } from '../support/mesh.js';
import { waitFor } from '../support/wait.js';

const IDLE_S = 6;

describe('stale streams end after the idle time, across an orchestrator restart (real mesh)', () => {
  let mesh: Mesh;
  let bus: Bus;
  let dir: string;
  let clip: string;
  const events: StreamEvent[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'livemesh-idle-'));
    clip = await generateClip({ seconds: 16, width: 320, height: 180, fps: 15, out: join(dir, 'src.flv') });
    // The first orchestrator never ends a stream for being idle: it is the one that "went down".
    mesh = await startMesh({ STREAM_IDLE_TIMEOUT_S: '0' });
    bus = await mesh.connectBus('orchestrator-idle-e2e');
    bus.subscribe(subjects.streamEvents(), {
      callback: (err, msg) => {
        if (!err) events.push(msg.json<StreamEvent>());
      },
    });
    await bus.flush();
  });

  afterAll(async () => {
    await bus?.close();
    await mesh?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const queued = async (streamId: string) =>
    Object.values((await bus.streamInfo(STREAMS.segments, { subjects: subjects.streamSegments(streamId) })).subjects).reduce((a, b) => a + b, 0);
  const ended = (id: string) => events.find((e) => e.streamId === id && e.kind === 'ended');

  it('ends a stream with no publisher after a restart and purges its queue; a published one ends once its encoder stops', async () => {
    const gone = await mesh.startStream({ id: 'idle-gone', stages: [{ service: 'passthrough' }] });
    const goneAt = Date.now();
    const alive = await mesh.startStream({ id: 'idle-alive', stages: [{ service: 'passthrough' }] });
    const encoder = publishRtmp(clip, alive.publish.rtmp, { realtime: true });
    await waitForSegments(`${mesh.env.DELIVERY_URL}/hls/idle-alive/index.m3u8`, 2, 30_000);
    // What the stale stream left queued: segments no worker will take (a service nobody runs), and
    // another stream's, which must survive the purge.
    for (let i = 0; i < 4; i++) await bus.publish(subjects.segment('nobody', 'idle-gone', 0), new Uint8Array(16));
    for (let i = 0; i < 3; i++) await bus.publish(subjects.segment('nobody', 'idle-other', 0), new Uint8Array(16));
    expect(gone.state).toBe('live');

    await mesh.stopApp('orchestrator');
    // The stale stream has been without a publisher for longer than the idle time by the restart.
    await new Promise((r) => setTimeout(r, Math.max(0, IDLE_S * 1000 + 500 - (Date.now() - goneAt))));
    mesh.env.STREAM_IDLE_TIMEOUT_S = String(IDLE_S);
    await mesh.startApp('orchestrator');
    const bootedAt = Date.now();

    const goneEnded = await waitFor('idle-gone to end as idle', 15_000, () => ended('idle-gone'));
    const goneLeft = await queued('idle-gone');
    const aliveView = await mesh.api('GET', '/api/streams/idle-alive');
    console.log(
      `idle: idle-gone ended ${Date.now() - bootedAt} ms after the restart: ${goneEnded.message} ${JSON.stringify(goneEnded.data)}; ` +
        `left in LM_SEG: ${goneLeft}; idle-other kept ${await queued('idle-other')}; idle-alive is ${aliveView.body.state}`,
    );
    expect(goneEnded.message).toMatch(/idle/);
    expect(goneEnded.data).toMatchObject({ reason: 'idle', purgedSegments: 4 });
    expect((goneEnded.data as { idleSeconds: number }).idleSeconds).toBeGreaterThanOrEqual(IDLE_S);
    expect(goneLeft).toBe(0);
    expect(await queued('idle-other')).toBe(3);
    expect((await mesh.api('GET', '/api/streams/idle-gone')).body.state).toBe('ended');
    // Published all along: the restart did not make it look idle.
    expect(aliveView.body.state).toBe('live');
    expect(ended('idle-alive')).toBeUndefined();

    const { code } = await encoder;
    const encoderEndedAt = Date.now();
    expect(code).toBe(0);
    const aliveEnded = await waitFor('idle-alive to end once its encoder stopped', (IDLE_S + 15) * 1000, () => ended('idle-alive'));
    const after = Date.now() - encoderEndedAt;
    console.log(`idle: idle-alive ended ${after} ms after its encoder stopped: ${JSON.stringify(aliveEnded.data)}`);
    expect(aliveEnded.data).toMatchObject({ reason: 'idle' });
    // Not before the idle time has passed since its last segment (which came at most a segment before the encoder stopped).
    expect(after).toBeGreaterThanOrEqual((IDLE_S - 3) * 1000);
    expect(await queued('idle-alive')).toBe(0);
  }, 90_000);
});
