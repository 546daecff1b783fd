// Chains of built-in services through the whole mesh (RTMP -> ingest -> workers of the process
// runtime -> delivery -> HLS through the orchestrator), checked the way a player needs them: every
// rendition of the multivariant playlist is one continuous stream at its size, with audio. Then a
// service written outside livemesh (examples/pixelate) is registered through the API and runs in a
// chain the same way, with no change to livemesh.
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runFfmpeg } from '@livemesh/media';
import { watchInChromium } from '../support/browser.js';
import { assertContinuous, generateClip, probeHls, publishRtmp } from '../support/media.js';
import { startMesh, waitForSegments, type Mesh } from '../support/mesh.js';
import { REPO_ROOT } from '../support/processes.js';
import { waitFor } from '../support/wait.js';
import { authFetch } from '../support/auth.js';

describe('chains of services through the mesh', () => {
  let mesh: Mesh;
  let dir: string;
  let clip: string;

  beforeAll(async () => {
    // The example is not a workspace: build it (and the worker) the way its README says.
    const built = spawnSync(process.execPath, [join(REPO_ROOT, 'node_modules/typescript/bin/tsc'), '-b', 'apps/worker', 'examples/pixelate'], { cwd: REPO_ROOT, encoding: 'utf8' });
    if (built.status !== 0) throw new Error(`build failed:\n${built.stdout}${built.stderr}`);
    dir = await mkdtemp(join(tmpdir(), 'livemesh-chain-'));
    // 10 s, key frame every second: five ~2 s segments.
    clip = await generateClip({ seconds: 10, width: 480, height: 270, fps: 25, out: join(dir, 'src.flv') });
    mesh = await startMesh({ HLS_WINDOW: '30', MEDIA_TIMEOUT_MS: '60000' });
  }, 180_000);

  afterAll(async () => {
    await mesh?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  }, 60_000);

  it('scale -> fps -> audio -> watermark -> thumbnail -> detect -> ABR transcode: every rendition plays as one continuous stream', async () => {
    // Seven hops, each its own worker, on two cores: more than the default budget of three segment
    // durations covers, so the pipeline sets its own (as an operator would for a chain this long).
    const pipeline = await mesh.api('POST', '/api/pipelines', {
      name: 'chain7',
      latencyBudgetMs: 120_000,
      stages: [
        { service: 'scale', params: { width: 640, height: 360 } },
        { service: 'fps', params: { fps: 20 } },
        { service: 'audio', params: { targetLufs: -16 } },
        { service: 'watermark', params: { text: "chain: 'seven' %{pts}", position: 'top-left' } },
        { service: 'thumbnail', params: { everySeconds: 2, width: 160 } },
        { service: 'detect', params: {} },
        { service: 'transcode', params: { renditions: [{ name: 'r360', width: 640, height: 360, videoBitrateKbps: 600 }, { name: 'r180', width: 320, height: 180, videoBitrateKbps: 200 }] } },
      ],
    });
    expect(pipeline.status).toBe(201);
    const stream = await mesh.startStream({ id: 'chain7', pipeline: 'chain7' });
    expect(stream.chain.hops.map((h) => h.service)).toEqual(['scale', 'fps', 'audio', 'watermark', 'thumbnail', 'detect', 'transcode']);
    const { code, stderr } = await publishRtmp(clip, stream.publish.rtmp);
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });

    const master = await waitFor('a multivariant playlist with both renditions', 120_000, async () => {
      const res = await fetch(stream.playback.hls).catch(() => undefined);
      const text = res?.ok ? await res.text() : '';
      return /r180\//.test(text) && /r360\//.test(text) ? text : undefined;
    });
    expect(master).toMatch(/#EXT-X-STREAM-INF:[^\n]*RESOLUTION=640x360[^\n]*\nr360\//);
    expect(master).toMatch(/#EXT-X-STREAM-INF:[^\n]*RESOLUTION=320x180[^\n]*\nr180\//);

    for (const [rendition, width, height] of [['r360', 640, 360], ['r180', 320, 180]] as const) {
      const url = new URL(`${rendition}/index.m3u8`, stream.playback.hls).toString();
      await waitForSegments(url, 5, 120_000);
      const hls = await probeHls(url);
      assertContinuous(hls, { size: { width, height }, audio: true, minSegments: 5 });
      // fps ran before the ladder: 20 frames a second in every rendition.
      for (const s of hls.segments) expect(1 / s.video!.frameDuration).toBeCloseTo(20, 0);
      expect(hls.segments.every((s) => s.audioCodec === 'aac' && s.videoCodec === 'h264')).toBe(true);
    }

    // The thumbnail service's latest picture, served by the orchestrator.
    const thumb = await waitFor('a thumbnail', 30_000, async () => {
      const res = await authFetch(`${mesh.apiUrl}/api/streams/chain7/thumbnail.jpg`);
      return res.status === 200 ? res : undefined;
    });
    expect(thumb.headers.get('content-type')).toBe('image/jpeg');
    const jpeg = new Uint8Array(await thumb.arrayBuffer());
    expect([jpeg[0], jpeg[1]]).toEqual([0xff, 0xd8]);
    expect((await authFetch(`${mesh.apiUrl}/api/streams/no-such-stream/thumbnail.jpg`)).status).toBe(404);
    expect((await authFetch(`${mesh.apiUrl}/api/streams/bad.id/thumbnail.jpg`)).status).toBe(400);

    // Once the stream has ended, a player plays the rendition from its start through the joins,
    // where the audio stage moved each segment's audio 43 ms ahead of its video, without a stall.
    expect((await mesh.api('DELETE', '/api/streams/chain7')).body.state).toBe('ended');
    const r360 = new URL('r360/index.m3u8', stream.playback.hls).toString();
    await waitFor('the r360 playlist to end', 30_000, async () => ((await (await fetch(r360)).text()).includes('#EXT-X-ENDLIST') ? true : undefined));
    const report = await watchInChromium(r360, 6);
    expect(report.fatalErrors).toEqual([]);
    expect([report.width, report.height]).toEqual([640, 360]);
    expect(report.played).toBeGreaterThan(4);
    expect(report.stalls).toBe(0);
  }, 240_000);

  it('runs a service written outside livemesh, registered through the API, in a chain with continuous HLS', async () => {
    const put = await mesh.api('PUT', '/api/services/pixelate', {
      name: 'pixelate',
      version: '1.0.0',
      description: 'examples/pixelate',
      run: { module: join(REPO_ROOT, 'examples/pixelate/dist/index.js') },
      paramSchema: (await import('../../examples/pixelate/dist/index.js')).paramSchema,
      input: 'segments',
      minReplicas: 0,
      maxReplicas: 2,
    });
    expect(put.status).toBe(200);
    const stream = await mesh.startStream({
      id: 'pixel',
      stages: [{ service: 'pixelate', params: { x: 0, y: 0, w: 160, h: 90, blockSize: 16 } }, { service: 'transcode', params: { width: 320, height: 180, videoBitrateKbps: 300 } }],
    });
    const { code } = await publishRtmp(clip, stream.publish.rtmp);
    expect(code).toBe(0);
    await waitForSegments(stream.playback.hls, 5, 120_000);
    const hls = await probeHls(stream.playback.hls);
    assertContinuous(hls, { size: { width: 320, height: 180 }, audio: true, minSegments: 5 });
    // The worker really ran the example's code: its log lines carry the replica's name.
    expect(mesh.apps.orchestrator.lines.some((l) => /\[pixelate-\d+\].*consuming lm\.seg\.pixelate\.>/.test(l))).toBe(true);
    await runFfmpeg(['-loglevel', 'error', '-i', hls.segments[0]!.url, '-frames:v', '1', '-f', 'null', '-'], { timeoutMs: 120_000 });
  }, 180_000);
});
