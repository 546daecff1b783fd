// The bus's own operations and limits against a real nats-server: one stream at its LM_SEG cap is
// refused with a BusError a caller can recognise while another stream still publishes; every
// stream, bucket and object store carries explicit limits (read from the server's monitoring);
// purge by stream, get/delete by sequence, blob delete, consumer info and the max-deliveries
// advisory work through the Bus alone.
import { Bus, ensureTopology, parseMaxDeliveriesAdvisory, publishSegment, type MaxDeliveriesAdvisory } from '@livemesh/bus';
import { BUCKETS, BusError, STREAMS, subjects, type SegmentMeta } from '@livemesh/contracts';
import { startNatsServer, type NatsServer } from '../support/nats-server.js';
import { waitFor } from '../support/wait.js';

const PER_STREAM = 10;
const SERVICE = 'limits';

describe('bus: limits and operations', () => {
  let nats: NatsServer;
  let bus: Bus;

  const meta = (streamId: string, seq: number): SegmentMeta => ({
    streamId, seq, hop: 0, rendition: 'main', pts: seq * 2, duration: 2, ingestTime: Date.now(), epoch: 0, chainVersion: 1,
  });
  const publish = (streamId: string, seq: number) =>
    publishSegment(bus, subjects.segment(SERVICE, streamId, 0), { meta: meta(streamId, seq), data: new Uint8Array(188) }, { inlineLimit: 1 << 20 });

  beforeAll(async () => {
    nats = await startNatsServer({ monitor: true });
    bus = await Bus.connect({ url: nats.url, name: 'e2e-bus-limits' });
    await ensureTopology(bus, { outputRetentionSeconds: 60, segmentsPerStream: PER_STREAM, segmentMaxAgeSeconds: 120 });
  }, 30_000);

  afterAll(async () => {
    await bus?.close();
    await nats?.stop();
  });

  it('refuses a stream at its LM_SEG per-stream cap with reason subject-full, while another stream publishes', async () => {
    for (let seq = 0; seq < PER_STREAM; seq++) await publish('full-1', seq);
    const refused = await publish('full-1', PER_STREAM).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(refused).toBeInstanceOf(BusError);
    expect((refused as BusError).reason).toBe('subject-full');
    expect((refused as BusError).cause).toBeDefined();
    // The other stream is not held back by the full one.
    const ack = await publish('free-1', 0);
    expect(ack.stream).toBe(STREAMS.segments);
    expect((await bus.streamInfo(STREAMS.segments, { subjects: subjects.streamSegments('full-1') })).subjects).toEqual({
      [subjects.segment(SERVICE, 'full-1', 0)]: PER_STREAM,
    });
  });

  it('sets explicit limits on every stream, bucket and object store', async () => {
    const res = await fetch(`${nats.monitorUrl}/jsz?streams=true&config=true`);
    const jsz = (await res.json()) as { account_details?: { stream_detail?: { name: string; config: Record<string, unknown> }[] }[] };
    const configs = new Map((jsz.account_details ?? []).flatMap((a) => a.stream_detail ?? []).map((s) => [s.name, s.config]));
    const seg = configs.get(STREAMS.segments)!;
    expect(seg).toMatchObject({ max_msgs_per_subject: PER_STREAM, discard: 'new', discard_new_per_subject: true, max_age: 120 * 1e9 });
    const expected = [
      ...Object.values(STREAMS),
      ...Object.values(BUCKETS).filter((b) => b !== BUCKETS.blobs && b !== BUCKETS.outputBlobs).map((b) => `KV_${b}`),
      `OBJ_${BUCKETS.blobs}`,
      `OBJ_${BUCKETS.outputBlobs}`,
    ];
    for (const name of expected) {
      const config = configs.get(name);
      expect({ name, has: config !== undefined }).toEqual({ name, has: true });
      expect({ name, maxBytes: Number(config!.max_bytes) > 0 }).toEqual({ name, maxBytes: true });
    }
    expect(Number(configs.get(`OBJ_${BUCKETS.blobs}`)!.max_age)).toBeGreaterThan(0);
    // Output blobs go with their LM_OUT message (60 s retention here), not after the blob TTL.
    expect(Number(configs.get(`OBJ_${BUCKETS.outputBlobs}`)!.max_age)).toBe(66 * 1e9);
    expect(configs.get(STREAMS.segmentFaults)).toMatchObject({ subjects: [subjects.maxDeliveriesAdvisory(STREAMS.segments)], max_age: 120 * 1e9, max_msgs: 100_000 });
  });

  it('purges one stream from LM_SEG and reads and deletes stored messages by sequence', async () => {
    await publish('purge-a', 0);
    await publish('purge-a', 1);
    const kept = await publish('purge-b', 0);
    expect(await bus.purge(STREAMS.segments, { filter: subjects.streamSegments('purge-a') })).toBe(2);
    expect((await bus.streamInfo(STREAMS.segments, { subjects: subjects.streamSegments('purge-a') })).subjects).toEqual({});

    const stored = await bus.getMessage(STREAMS.segments, { seq: kept.seq });
    expect(stored?.subject).toBe(subjects.segment(SERVICE, 'purge-b', 0));
    expect(stored?.headers?.get('Lm-Stream-Id')).toBe('purge-b');
    expect(await bus.deleteMessage(STREAMS.segments, kept.seq)).toBe(true);
    expect(await bus.getMessage(STREAMS.segments, { seq: kept.seq })).toBeUndefined();
    expect(await bus.deleteMessage(STREAMS.segments, kept.seq)).toBe(false);
  });

  it('deletes a blob', async () => {
    await bus.putBlob('seg/e2e-delete', new Uint8Array([1, 2, 3]));
    expect(await bus.blobSize('seg/e2e-delete')).toBe(3);
    expect(await bus.deleteBlob('seg/e2e-delete')).toBe(true);
    expect(await bus.getBlob('seg/e2e-delete')).toBeUndefined();
    expect(await bus.deleteBlob('seg/e2e-delete')).toBe(false);
  });

  it("says a consumer that does not exist is not-found, and reads a durable's position", async () => {
    const missing = await bus.consumerInfo(STREAMS.segments, 'nobody').catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(BusError);
    expect((missing as BusError).reason).toBe('not-found');

    const consumer = await bus.durableConsumer(STREAMS.output, { name: 'e2e_info', filter: subjects.output('info-1', 'main'), ackWaitMs: 5_000, maxDeliver: 3, maxAckPending: 8 });
    await bus.publish(subjects.output('info-1', 'main'), new Uint8Array([1]));
    const last = await bus.publish(subjects.output('info-1', 'main'), new Uint8Array([2]));
    const feed = await consumer.consume({ maxMessages: 1 });
    for await (const m of feed) {
      await m.ackAck();
      if (m.seq === last.seq) break;
    }
    await feed.close();
    const info = await bus.consumerInfo(STREAMS.output, 'e2e_info');
    expect(info).toMatchObject({ name: 'e2e_info', pending: 0, ackPending: 0, ackFloorSeq: last.seq });
  });

  it("hears the server's max-deliveries advisory for an LM_SEG message nobody acked", async () => {
    const advisories: MaxDeliveriesAdvisory[] = [];
    const sub = bus.subscribe(subjects.maxDeliveriesAdvisory(STREAMS.segments), {
      callback: (err, msg) => {
        const a = err ? undefined : parseMaxDeliveriesAdvisory(msg);
        if (a) advisories.push(a);
      },
    });
    await bus.flush();
    const consumer = await bus.durableConsumer(STREAMS.segments, { name: 'svc_advised', filter: subjects.serviceFilter('advised'), ackWaitMs: 500, maxDeliver: 1, maxAckPending: 8 });
    const ack = await publishSegment(bus, subjects.segment('advised', 'adv-1', 0), { meta: meta('adv-1', 0), data: new Uint8Array(188) }, { inlineLimit: 1 << 20 });
    const feed = await consumer.consume({ maxMessages: 4 });
    const seen: number[] = [];
    void (async () => {
      for await (const m of feed) seen.push(m.seq); // never acked
    })();
    const advisory = await waitFor('the max-deliveries advisory', 15_000, async () => advisories[0]);
    expect(advisory).toEqual({ stream: STREAMS.segments, consumer: 'svc_advised', streamSeq: ack.seq, deliveries: 1 });
    expect(seen).toEqual([ack.seq]);
    // The work queue keeps the message: the listener can read it by sequence, then remove it.
    expect((await bus.getMessage(STREAMS.segments, { seq: advisory.streamSeq }))?.subject).toBe(subjects.segment('advised', 'adv-1', 0));
    await feed.close();
    sub.unsubscribe();
  }, 30_000);
});
