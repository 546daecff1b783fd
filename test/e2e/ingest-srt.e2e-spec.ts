// SRT publish end to end: ingest opens an SRT listener per published stream (a port from
// SRT_PORT_RANGE, the stream key as passphrase), a real ffmpeg publishes as an SRT caller, and
// delivery's HLS must be continuous. A caller without the key is refused. When the encoder comes
// back with its clock restarted, the playlist marks the discontinuity.
import { join } from 'node:path';
import { BUCKETS, statusKey } from '@livemesh/contracts';
import {  } from '@livemesh/bus';
import { runFfmpeg } from '@livemesh/media';
import { assertContinuous, generateClip, probeHls } from '../support/media.js';
import { waitFor } from '../support/wait.js';
import { ffmpeg, splitAtDiscontinuities, startHarness, type Harness } from './ingest-delivery.harness.js';

const STREAM = 'srt1';
const SIZE = { width: 320, height: 240 };

describe('ingest: SRT publish', () => {
  let h: Harness;
  let ts: string;
  let key: string;
  let port: number;

  beforeAll(async () => {
    // A random block, so suites running side by side do not reach for the same ports.
    const first = 30_000 + Math.floor(Math.random() * 900) * 10;
    h = await startHarness({ SRT_PORT_RANGE: `${first}-${first + 9}` });
    const flv = await generateClip({ seconds: 6, width: 320, height: 240, fps: 25, keyframeSeconds: 1, out: join(h.dir, 'clip.flv') });
    ts = join(h.dir, 'clip.ts');
    await runFfmpeg(['-loglevel', 'error', '-y', '-i', flv, '-c', 'copy', '-f', 'mpegts', ts], { timeoutMs: 120_000 });
    ({ key } = await h.addStream(STREAM));
    const status = await waitFor('the SRT listener', 10_000, async () => {
      const v = (await h.bus.store(BUCKETS.status).get(statusKey(STREAM, 'ingest')))?.value;
      return v && 'srt' in v ? v : undefined;
    }, { retryErrors: true });
    port = status.srt!.port;
    expect(port).toBeGreaterThanOrEqual(first);
    expect(port).toBeLessThanOrEqual(first + 9);
  });

  afterAll(async () => {
    await h?.stop();
  });

  const publish = (passphrase: string) =>
    ffmpeg(['-re', '-i', ts, '-c', 'copy', '-f', 'mpegts', `srt://127.0.0.1:${port}?streamid=${key}&passphrase=${passphrase}`], 30_000).done;

  const listed = (n: number) =>
    waitFor(`${n} segments listed`, 30_000, async () => {
      const text = await (await fetch(h.hls(STREAM))).text();
      return (text.match(/^#EXTINF/gm) ?? []).length >= n ? text : undefined;
    }, { retryErrors: true, detail: () => h.logs.text().split('\n').filter((l) => l.includes(STREAM)).slice(-10).join('\n') });

  it('refuses a caller without the stream key', async () => {
    const refused = await publish('not-the-key-0123');
    expect(refused.code).not.toBe(0);
    // Refused by the listener's handshake for the passphrase, not for a missing listener or a timeout.
    expect(refused.stderr).toMatch(/REJECT.*Incorrect passphrase/);
  });

  it('turns an SRT publish into continuous HLS', async () => {
    const pushed = await publish(key);
    expect(pushed).toEqual({ code: 0, stderr: '' });
    const text = await listed(3);
    expect(text).not.toContain('#EXT-X-DISCONTINUITY');
    const hls = await probeHls(h.hls(STREAM));
    assertContinuous(hls, { size: SIZE, audio: true, minSegments: 3 });
    // Publishers see where to send SRT, but never the key in ingest's log.
    expect(h.logs.text()).not.toContain(key);
  });

  it('marks an encoder that reconnects with its clock restarted as a discontinuity', async () => {
    const before = (await probeHls(h.hls(STREAM))).segments.length;
    // The listener is back for the next caller once the last run has flushed.
    await waitFor('the listener to be back', 10_000, () => h.logs.text().match(/stream srt1: srt segmenter ended/g)?.length === 1, { retryErrors: true });
    expect((await publish(key)).code).toBe(0);
    const text = await listed(before + 3);
    expect(text.match(/#EXT-X-DISCONTINUITY\n/g)).toHaveLength(1);
    const parts = splitAtDiscontinuities(await probeHls(h.hls(STREAM)));
    expect(parts).toHaveLength(2);
    for (const p of parts) assertContinuous(p, { size: SIZE, audio: true, minSegments: 3 });
  });
});
