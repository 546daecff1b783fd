// Hostile bus input (issue 13, item 2): a real nats-server and the delivery app, a stream being
// served on lm.out.s1.main, and into it 20 copies each of a forged Lm-Seq jump, an oversized
// header, an oversized (claim-checked) payload and a rendition that is not a token. Delivery must
// keep serving the stream with continuous seqs, count every bad message by reason and log each
// reason once, not once per message.
import type { INestApplication } from '@nestjs/common';
import { DEFAULT_RENDITION, loadEnv, segmentMsgId, subjects, type SegmentMeta } from '@livemesh/contracts';
import { Bus, encodeSegmentHeaders, ensureTopology, publishSegment } from '@livemesh/bus';
import { createDeliveryApp } from '../../apps/delivery/src/delivery.app.js';
import { MAX_SEGMENT_BYTES } from '../../apps/delivery/src/output.consumer.js';
import { freePort } from '../support/free-port.js';
import { CapturingLogger } from '../support/logger.js';
import { startNatsServer, type NatsServer } from '../support/nats-server.js';
import { outputMeta } from '../support/segments.js';
import { waitFor } from '../support/wait.js';

const STREAM = 's1';
const TIMEOUT_MS = 30_000;
const COPIES = 20;
const REASONS = ['seq-too-far', 'header-too-large', 'payload-too-large', 'malformed'] as const;

describe('delivery: hostile input on lm.out', () => {
  let nats: NatsServer;
  let bus: Bus;
  let app: INestApplication;
  let base: string;
  const logs = new CapturingLogger();
  let publisher: NodeJS.Timeout | undefined;
  let nextSeq = 0;

  const meta = (seq: number, over: Partial<SegmentMeta> = {}): SegmentMeta => outputMeta(STREAM, seq, over);
  const good = (seq: number) =>
    publishSegment(bus, subjects.output(STREAM, DEFAULT_RENDITION), { meta: meta(seq), data: new Uint8Array(1880) }, { kind: 'out', inlineLimit: 1 << 20 });
  /** A message as a hostile publisher writes it: any headers, a distinct Nats-Msg-Id per copy so none is deduplicated. */
  const raw = (m: SegmentMeta, copy: string, data = new Uint8Array(188), extra: Record<string, string> = {}) =>
    bus.publish(subjects.output(STREAM, DEFAULT_RENDITION), data, {
      headers: encodeSegmentHeaders(m, `${segmentMsgId(m, 'out')}.${copy}`, extra),
    });
  const metrics = async (): Promise<string> => (await fetch(`${base}/metrics`)).text();
  const dropped = (text: string, reason: string): number =>
    Number(new RegExp(`^livemesh_delivery_segments_dropped_total\\{reason="${reason}"\\} (\\d+)$`, 'm').exec(text)?.[1] ?? 0);
  const listed = async (): Promise<number[]> => {
    const res = await fetch(`${base}/hls/${STREAM}/index.m3u8`);
    if (!res.ok) return [];
    const text = await res.text();
    expect(text).not.toContain('#EXT-X-DISCONTINUITY');
    return text
      .split('\n')
      .filter((l) => l.endsWith('.ts'))
      .map((l) => Number(/(\d+)\.ts$/.exec(l)![1]));
  };

  beforeAll(async () => {
    nats = await startNatsServer();
    const port = await freePort();
    const env = loadEnv({ NATS_URL: nats.url, DELIVERY_PORT: String(port), HLS_WINDOW: '3', LOG_LEVEL: 'warn' });
    bus = await Bus.connect({ url: nats.url, name: 'delivery-hostile-e2e' });
    await ensureTopology(bus, { outputRetentionSeconds: env.OUTPUT_RETENTION_SECONDS });
    app = await createDeliveryApp(env, { logger: ['error', 'warn'] });
    app.useLogger(logs);
    await app.listen(port, '127.0.0.1');
    base = `http://127.0.0.1:${port}`;
  }, TIMEOUT_MS);

  afterAll(async () => {
    clearInterval(publisher);
    await app?.close();
    await bus?.close();
    await nats?.stop();
  }, TIMEOUT_MS);

  it('keeps serving the stream, counts every bad message and logs each reason once', async () => {
    // The stream being served: one segment every 200 ms.
    publisher = setInterval(() => void good(nextSeq++).catch(() => undefined), 200);
    await waitFor('the stream to be listed', 10_000, async () => (await listed()).length >= 2, { retryErrors: true });

    // A blob just over the bound, as a claim-checked segment names it.
    await bus.putBlob('hostile-huge', new Uint8Array(MAX_SEGMENT_BYTES + 1));
    const seqAtAttack = (await listed()).at(-1)!;
    for (let copy = 0; copy < COPIES; copy++) {
      await raw(meta(1_000_000_000_000_000), `jump-${copy}`);
      await raw(meta(seqAtAttack + 1), `header-${copy}`, undefined, { 'Lm-Transfer': JSON.stringify({ pad: 'x'.repeat(20 * 1024) }) });
      await raw(meta(seqAtAttack + 1, { blob: 'hostile-huge' }), `payload-${copy}`, new Uint8Array(0));
      await raw(meta(seqAtAttack + 1, { rendition: 'not a token!' }), `rendition-${copy}`);
    }

    let lastMetrics = '';
    const counts = await waitFor('every bad message to be counted', 15_000, async () => {
      const text = await metrics();
      lastMetrics = text.split('\n').filter((l) => l.includes('dropped_total{')).join('\n');
      const c = Object.fromEntries(REASONS.map((r) => [r, dropped(text, r)]));
      return REASONS.every((r) => c[r] === COPIES) && c;
    }, { detail: () => `${lastMetrics}\n${logs.warnings.slice(-10).join('\n')}` });
    console.log(`refused by reason: ${JSON.stringify(counts)}`);

    // The stream went on past the attack, seq after seq.
    const seqs = await waitFor('the playlist to grow past the attack', 10_000, async () => {
      const now = await listed();
      return now.length > 0 && now.at(-1)! >= seqAtAttack + 5 && now;
    });
    for (let i = 1; i < seqs.length; i++) expect(seqs[i]).toBe(seqs[i - 1]! + 1);
    expect(await (await fetch(`${base}/health`)).json()).toMatchObject({ status: 'ok' });

    for (const reason of REASONS) {
      const lines = logs.warnings.filter((w) => w.includes(`stream ${STREAM}: refused ${reason}:`));
      expect({ reason, lines: lines.length }).toEqual({ reason, lines: 1 });
    }
  }, TIMEOUT_MS);
});
