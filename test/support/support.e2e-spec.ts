// Checks the e2e helpers themselves against the real tools, so a failing suite elsewhere is not
// blamed on the harness.
import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '@nats-io/transport-node';
import { runFfmpeg } from '@livemesh/media';
import { holdDockerEngine } from './docker-lock.js';
import { freePort } from './free-port.js';
import { assertContinuous, ffprobeJson, generateClip, parseM3u8, probeHls, type HlsProbe } from './media.js';
import { startNatsServer, type NatsServer } from './nats-server.js';
import { spawnNode } from './processes.js';

describe('test support', () => {
  let nats: NatsServer;
  let dir: string;

  beforeAll(async () => {
    nats = await startNatsServer({ monitor: true });
    dir = await mkdtemp(join(tmpdir(), 'livemesh-support-'));
  });

  afterAll(async () => {
    await nats?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('freePort gives a bindable 127.0.0.1 port', async () => {
    const port = await freePort();
    expect(port).toBeGreaterThan(0);
    expect(port).toBeLessThan(65536);
  });

  it('starts a nats-server with JetStream that answers requests and survives a restart', async () => {
    const nc = await connect({ servers: nats.url });
    try {
      const subject = `support.echo.${Date.now()}`;
      const sub = nc.subscribe(subject, { callback: (_err, msg) => {
        msg.respond(msg.data);
      } });
      const reply = await nc.request(subject, 'ping', { timeout: 2_000 });
      expect(reply.string()).toBe('ping');
      sub.unsubscribe();
      expect(nc.info?.jetstream).toBe(true);
    } finally {
      await nc.close();
    }

    const varz = (await (await fetch(`${nats.monitorUrl}/varz`)).json()) as { port: number };
    expect(varz.port).toBe(nats.port);

    await nats.restart!();
    const again = await connect({ servers: nats.url });
    await again.flush();
    await again.close();
  });

  it('generateClip writes a 2 s 320x240 H.264 + AAC clip that ffprobeJson reads', async () => {
    const out = await generateClip({ seconds: 2, width: 320, height: 240, fps: 25, out: join(dir, 'clip.ts') });
    const probe = await ffprobeJson(out);
    const video = probe.streams.find((s) => s.codec_type === 'video');
    const audio = probe.streams.find((s) => s.codec_type === 'audio');
    expect(video).toMatchObject({ codec_name: 'h264', width: 320, height: 240 });
    expect(audio).toMatchObject({ codec_name: 'aac' });
    expect(Number(probe.format?.duration)).toBeGreaterThan(1.9);
    expect(Number(probe.format?.duration)).toBeLessThan(2.2);
  });

  it('parseM3u8 reads sequence, durations and discontinuities', () => {
    const pl = parseM3u8(
      ['#EXTM3U', '#EXT-X-VERSION:3', '#EXT-X-TARGETDURATION:2', '#EXT-X-MEDIA-SEQUENCE:7', '#EXTINF:2.0,', 'a.ts', '#EXT-X-DISCONTINUITY', '#EXTINF:1.5,', 'seg/b.ts?x=1'].join('\n'),
      'http://127.0.0.1:1/hls/s1/index.m3u8',
    );
    expect(pl.segments.map((s) => [s.sequence, s.duration, s.discontinuityBefore, s.url])).toEqual([
      [7, 2, false, 'http://127.0.0.1:1/hls/s1/a.ts'],
      [8, 1.5, true, 'http://127.0.0.1:1/hls/s1/seg/b.ts?x=1'],
    ]);
    expect(pl.discontinuity).toBe(true);
    expect(pl.endList).toBe(false);
  });

  it('spawnNode collects output lines and waitForLine latches on them', async () => {
    const app = spawnNode('echo', ['-e', "console.log('starting'); setTimeout(() => console.error('ready on 1234'), 50); setInterval(() => {}, 1000);"]);
    const match = await app.waitForLine(/ready on (\d+)/, 10_000);
    expect(match[1]).toBe('1234');
    expect(app.lines).toContain('starting');
    const { signal } = await app.stop();
    expect(signal).toBe('SIGTERM');
    await expect(app.waitForLine(/never/, 1_000)).rejects.toThrow(/exited/);
  });

  it('probeHls + assertContinuous accept a continuous playlist and list each gap of a broken one', async () => {
    const clip = await generateClip({ seconds: 6, width: 320, height: 240, fps: 25, out: join(dir, 'long.ts') });
    const hlsDir = join(dir, 'hls');
    await mkdir(hlsDir);
    // ffmpeg's own HLS muxer with stream copy keeps one timeline: the reference a good origin matches.
    await runFfmpeg(['-loglevel', 'error', '-copyts', '-i', clip, '-c', 'copy', '-f', 'hls', '-hls_time', '2', '-hls_list_size', '0',
      '-hls_segment_filename', join(hlsDir, 's%d.ts'), join(hlsDir, 'index.m3u8')], { timeoutMs: 120_000 });

    const server = createServer((req, res) => {
      readFile(join(hlsDir, new URL(req.url ?? '/', 'http://x').pathname.slice(1)))
        .then((body) => res.end(body))
        .catch(() => res.writeHead(404).end());
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    try {
      const result = await probeHls(`http://127.0.0.1:${port}/index.m3u8`);
      expect(result.segments).toHaveLength(3);
      expect({ width: result.width, height: result.height }).toEqual({ width: 320, height: 240 });
      expect(() => assertContinuous(result, { size: { width: 320, height: 240 }, extinfToleranceSeconds: 0.1 })).not.toThrow();

      // Drop the middle segment and mark a discontinuity: each problem must be listed.
      const [first, , third] = result.segments;
      const broken: HlsProbe = {
        ...result,
        discontinuity: true,
        segments: [first!, { ...third!, sequence: first!.sequence + 1, discontinuityBefore: true }],
      };
      expect(() => assertContinuous(broken)).toThrow(/EXT-X-DISCONTINUITY[\s\S]*video .* gap of 2\.0[\s\S]*audio .* gap of/);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('lets one Docker suite hold the engine at a time, and takes over the lock of a suite that died', async () => {
    const lock = join(dir, 'docker.lock');
    const first = await holdDockerEngine('first', lock);
    let secondHeld = false;
    const second = holdDockerEngine('second', lock).then((release) => {
      secondHeld = true;
      return release;
    });
    await new Promise((r) => setTimeout(r, 1_500));
    expect(secondHeld).toBe(false);
    await first();
    const releaseSecond = await second;
    expect(secondHeld).toBe(true);
    await releaseSecond();

    // A lock left by a process that is gone (a killed jest worker) does not block the next suite.
    const gone = spawnSync(process.execPath, ['-e', '0']).pid!;
    await writeFile(lock, `${gone}\n`);
    const taken = await Promise.race([holdDockerEngine('third', lock), new Promise<undefined>((r) => setTimeout(r, 5_000, undefined))]);
    expect(taken).toBeDefined();
    expect((await readFile(lock, 'utf8')).trim()).toBe(String(process.pid));
    await taken!();
  });
});

