// The multivariant output in a real player: the whole mesh (orchestrator with its process runtime,
// ingest, a transcode worker making a two-rung ABR ladder, delivery), a real-time RTMP publisher,
// and headless Chromium playing the multivariant playlist with hls.js, forced to each rendition in
// turn: frames are decoded at each one's size, without a fatal error.
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { watchInChromium } from '../support/browser.js';
import { generateClip } from '../support/media.js';
import { startMesh, type Mesh } from '../support/mesh.js';
import { waitFor } from '../support/wait.js';

const LADDER = [
  { name: 'r240', width: 426, height: 240, videoBitrateKbps: 300 },
  { name: 'r360', width: 640, height: 360, videoBitrateKbps: 700 },
];

describe('delivery: multivariant HLS in Chromium', () => {
  let mesh: Mesh;
  let dir: string;
  let clip: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'livemesh-abr-'));
    clip = await generateClip({ seconds: 45, width: 640, height: 360, fps: 25, out: join(dir, 'src.flv') });
    mesh = await startMesh();
  });

  afterAll(async () => {
    await mesh?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('plays every rendition of the ladder', async () => {
    const stream = await mesh.startStream({ id: 'abr', stages: [{ service: 'transcode', params: { renditions: LADDER } }] });
    const encoder = spawn('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-nostdin', '-re', '-i', clip, '-c', 'copy', '-f', 'flv', stream.publish.rtmp], { stdio: 'ignore' });
    try {
      const master = await waitFor('a multivariant playlist with both renditions, 3 segments each', 90_000, async () => {
        const text = await (await fetch(stream.playback.hls)).text();
        if (!text.includes('#EXT-X-STREAM-INF')) return undefined;
        for (const r of LADDER) {
          const media = await (await fetch(new URL(`${r.name}/index.m3u8`, stream.playback.hls))).text();
          if ((media.match(/^#EXTINF/gm) ?? []).length < 3) return undefined;
        }
        return text;
      }, { retryErrors: true });
      expect(master).toContain('RESOLUTION=426x240');
      expect(master).toContain('RESOLUTION=640x360');
      // hls.js orders levels by bit rate: level 0 is the 240p rung.
      for (const [level, rung] of LADDER.entries()) {
        const report = await watchInChromium(stream.playback.hls, 4, level);
        expect(report.fatalErrors).toEqual([]);
        expect([report.width, report.height]).toEqual([rung.width, rung.height]);
        expect(report.decodedFrames).toBeGreaterThan(25);
        expect(report.played).toBeGreaterThan(2);
      }
    } finally {
      encoder.kill('SIGTERM');
    }
  });
});
