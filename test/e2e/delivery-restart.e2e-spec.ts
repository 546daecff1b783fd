// Delivery restarts (issue 13, item 2): a real nats-server, the built delivery app as a child
// process and real MPEG-TS segments on lm.out. (a) Delivery is SIGKILLed mid-stream and started
// again: it goes on from its checkpoint in lm_delivery, the playlist continues with the same media
// sequence and program date-times, and it reads no payload of a segment it had handled before the
// kill (its /metrics count every payload it reads). (b) nats-server is restarted under a live
// stream: delivery lists new segments again within a few seconds, with no seq lost.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BUCKETS, DEFAULT_RENDITION, loadEnv, subjects } from '@livemesh/contracts';
import { Bus, ensureTopology, publishSegment } from '@livemesh/bus';
import { freePort } from '../support/free-port.js';
import { startNatsServer, type NatsServer } from '../support/nats-server.js';
import { spawnApp, type AppProcess } from '../support/processes.js';
import { cutTestSegments, outputMeta, type CutSegment } from '../support/segments.js';
import { waitFor } from '../support/wait.js';

const TIMEOUT_MS = 40_000;
const OUTAGE_MS = 3_000;

describe('delivery restarts', () => {
  let nats: NatsServer;
  let bus: Bus;
  let dir: string;
  let clip: CutSegment[];
  let delivery: AppProcess | undefined;
  let env: Record<string, string>;
  let base: string;

  /** Seq `seq` of a stream: the clip's segments over and over, inline. Resolves to its LM_OUT sequence. */
  const publish = async (streamId: string, seq: number): Promise<number> =>
    (await publishSegment(bus, subjects.output(streamId, DEFAULT_RENDITION), { meta: outputMeta(streamId, seq), data: clip[seq % clip.length]!.data }, { kind: 'out', inlineLimit: 1 << 20 })).seq;
  const playlist = async (streamId: string): Promise<string | undefined> => {
    const res = await fetch(`${base}/hls/${streamId}/index.m3u8`);
    return res.ok ? res.text() : undefined;
  };
  const seqsOf = (text: string | undefined): number[] => (text ?? '').split('\n').filter((l) => l.endsWith('.ts')).map((l) => Number(/(\d+)\.ts$/.exec(l)![1]));
  const metric = async (name: string): Promise<number> => {
    const text = await (await fetch(`${base}/metrics`)).text();
    return Number(new RegExp(`^${name} (-?[\\d.e+]+)$`, 'm').exec(text)?.[1] ?? NaN);
  };
  /** The lines of each segment in a media playlist (PDT, EXTINF, URI), by seq. */
  const entriesOf = (text: string): Map<number, string> => {
    const out = new Map<number, string>();
    const lines = text.split('\n');
    for (let i = 0; i < lines.length; i++) if (lines[i]!.endsWith('.ts')) out.set(Number(/(\d+)\.ts$/.exec(lines[i]!)![1]), lines.slice(i - 2, i + 1).join('\n'));
    return out;
  };
  const startDelivery = (): AppProcess => (delivery = spawnApp('delivery', env));
  const listedUpTo = (streamId: string, seq: number, timeoutMs = 15_000): Promise<string> =>
    waitFor(`${streamId} to list seq ${seq}`, timeoutMs, async () => {
      const text = await playlist(streamId);
      return seqsOf(text).includes(seq) && text;
    }, { retryErrors: true, detail: () => delivery?.tail(20) ?? '' });

  beforeAll(async () => {
    nats = await startNatsServer();
    dir = await mkdtemp(join(tmpdir(), 'livemesh-delivery-restart-'));
    clip = await cutTestSegments(dir, 6, TIMEOUT_MS);
    const port = await freePort();
    env = { NATS_URL: nats.url, DELIVERY_PORT: String(port), HLS_WINDOW: '5', DELIVERY_CHECKPOINT_SECONDS: '1', LOG_LEVEL: 'log' };
    bus = await Bus.connect({ url: nats.url, name: 'delivery-restart-e2e' });
    await ensureTopology(bus, { outputRetentionSeconds: loadEnv(env).OUTPUT_RETENTION_SECONDS });
    base = `http://127.0.0.1:${port}`;
  }, TIMEOUT_MS);

  afterAll(async () => {
    await delivery?.stop();
    await bus?.close();
    await nats?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  }, TIMEOUT_MS);

  it('goes on from its checkpoint after a SIGKILL: same media sequence, no old payload read', async () => {
    const S = 'restart1';
    startDelivery();
    await waitFor('delivery to be healthy', 20_000, async () => (await fetch(`${base}/health`)).ok, { retryErrors: true, intervalMs: 200 });
    let lastRef = 0;
    for (let seq = 0; seq < 20; seq++) lastRef = await publish(S, seq);
    const before = await listedUpTo(S, 19);
    const position = bus.store(BUCKETS.delivery);
    await waitFor('a checkpoint covering seq 19', 10_000, async () => {
      const p = await position.get('position');
      return p?.value.kind === 'position' && p.value.lastSeq >= lastRef;
    });

    process.kill(delivery!.pid!, 'SIGKILL');
    await delivery!.exited;
    // Published while delivery is down: these are new to it and must be read.
    for (let seq = 20; seq < 23; seq++) await publish(S, seq);

    const spawnedAt = Date.now();
    startDelivery();
    const first = await waitFor('the first playlist after the restart', 20_000, () => playlist(S), { retryErrors: true, intervalMs: 50 });
    const msToPlaylist = Date.now() - spawnedAt;
    for (let seq = 23; seq < 26; seq++) await publish(S, seq);
    const after = await listedUpTo(S, 25);

    // The entries listed before the kill are listed the same way (PDT, duration, URI) after it.
    const was = entriesOf(before);
    for (const [seq, lines] of entriesOf(first)) if (was.has(seq)) expect({ seq, lines }).toEqual({ seq, lines: was.get(seq) });
    expect([...entriesOf(first).keys()].some((seq) => was.has(seq))).toBe(true);
    // MEDIA-SEQUENCE is the first listed seq as before (nothing skipped): the numbering continues.
    for (const text of [before, first, after]) {
      expect(text).toContain(`#EXT-X-MEDIA-SEQUENCE:${seqsOf(text)[0]}`);
      expect(text).not.toContain('#EXT-X-DISCONTINUITY');
      const seqs = seqsOf(text);
      for (let i = 1; i < seqs.length; i++) expect(seqs[i]).toBe(seqs[i - 1]! + 1);
    }
    expect(seqsOf(after)).toEqual([21, 22, 23, 24, 25]);

    // Payloads read by the consumer since the restart: only the 6 segments published after the checkpoint.
    const reads = await metric('livemesh_delivery_payload_reads_total');
    const skipped = await metric('livemesh_delivery_checkpoint_skipped_total');
    const resumedAfter = await metric('livemesh_delivery_resumed_after_seq');
    console.log(`delivery restart: first playlist ${msToPlaylist} ms after spawn; payloads read ${reads} (segments after the checkpoint: 6), messages passed over ${skipped}, resumed after LM_OUT seq ${resumedAfter} (of ${lastRef} before the kill)`);
    expect(resumedAfter).toBeGreaterThanOrEqual(lastRef);
    expect(reads).toBe(6);
    expect(skipped).toBe(0);

    // A restored entry's bytes are served from LM_OUT by its ref.
    const res = await fetch(`${base}/hls/${S}/main/21.ts`);
    expect(res.status).toBe(200);
    expect(new Uint8Array(await res.arrayBuffer())).toEqual(new Uint8Array(clip[21 % clip.length]!.data));
  }, TIMEOUT_MS);

  it('lists new segments again within seconds of a nats-server restart, with no seq lost', async () => {
    const S = 'restart2';
    // Running on from the first test, or started here when this one runs alone.
    delivery ??= startDelivery();
    await waitFor('delivery to be healthy', 20_000, async () => (await fetch(`${base}/health`)).ok, { retryErrors: true, intervalMs: 200 });
    let seq = 0;
    let publishing = true;
    /** When each seq was stored (the publisher's own connection takes a while to get through again). */
    const storedAt = new Map<number, number>();
    // A live stream: one segment every 300 ms; a publish that fails (server down) is tried again with the same seq.
    const publisher = (async () => {
      while (publishing) {
        try {
          // A publish in flight across the restart hangs until its request times out: give up on
          // it after a second and publish the seq again (its Nats-Msg-Id makes a second copy a no-op).
          await Promise.race([publish(S, seq), new Promise((_, reject) => setTimeout(() => reject(new Error('publish timed out')), 1_000))]);
          storedAt.set(seq, Date.now());
          seq++;
        } catch {
          // The server is restarting.
        }
        await new Promise((r) => setTimeout(r, 300));
      }
    })();
    try {
      await listedUpTo(S, 3);
      // Down long enough for the clients' reconnect attempts and the consumers' own retries to back off.
      await nats.down();
      await new Promise((r) => setTimeout(r, OUTAGE_MS));
      await nats.up();
      const restartedAt = Date.now();
      // The first seq stored after the server is back, whichever publish attempt made it.
      const target = seq + 1;
      await listedUpTo(S, target, 25_000);
      const listedAt = Date.now();
      const msAfterStored = listedAt - storedAt.get(target)!;
      console.log(
        `nats-server restart: seq ${target} stored ${storedAt.get(target)! - restartedAt} ms after the server was back, listed by delivery ${msAfterStored} ms after it was stored`,
      );
      // Within a segment or so of it being stored: delivery did not wait for anything after the server came back.
      expect(msAfterStored).toBeLessThan(3_000);
      const text = (await playlist(S))!;
      expect(text).not.toContain('#EXT-X-DISCONTINUITY');
      const seqs = seqsOf(text);
      for (let i = 1; i < seqs.length; i++) expect(seqs[i]).toBe(seqs[i - 1]! + 1);
    } finally {
      publishing = false;
      await publisher;
    }
  }, TIMEOUT_MS);
});
