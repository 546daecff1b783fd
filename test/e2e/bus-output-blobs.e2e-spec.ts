// A claim-checked output segment's blob goes with its LM_OUT message: the blob lives in the
// output blob store, whose TTL follows OUTPUT_RETENTION_SECONDS, so once the message has aged out
// of the time-shift window the blob is gone too, while a hop's input blob (lm_blobs, its own TTL)
// and a blob written under the older name in lm_blobs are still read where they are.
import { Bus, ensureTopology, publishSegment, readSegment } from '@livemesh/bus';
import { BUCKETS, STREAMS, blobNames, subjects, type SegmentMeta } from '@livemesh/contracts';
import { startNatsServer, type NatsServer } from '../support/nats-server.js';
import { waitFor } from '../support/wait.js';

const RETENTION_S = 10;

describe('bus: output blobs age out with their message', () => {
  let nats: NatsServer;
  let bus: Bus;

  const meta = (seq: number): SegmentMeta => ({
    streamId: 'blobby', seq, hop: 0, rendition: 'main', pts: seq * 2, duration: 2, ingestTime: Date.now(), epoch: 0, chainVersion: 1,
  });
  const payload = (seq: number) => new Uint8Array(4096).fill(seq + 1);

  beforeAll(async () => {
    nats = await startNatsServer();
    bus = await Bus.connect({ url: nats.url, name: 'e2e-bus-output-blobs' });
    await ensureTopology(bus, { outputRetentionSeconds: RETENTION_S, segmentMaxAgeSeconds: 600 });
  }, 30_000);

  afterAll(async () => {
    await bus?.close();
    await nats?.stop();
  });

  it('deletes an output blob once its LM_OUT message aged out; input and older blobs stay in lm_blobs', async () => {
    // Above the inline limit: both go to an object store.
    const out = await publishSegment(bus, subjects.output('blobby', 'main'), { meta: meta(0), data: payload(0) }, { inlineLimit: 1024, kind: 'out' });
    const input = await publishSegment(bus, subjects.segment('svc', 'blobby', 0), { meta: meta(1), data: payload(1) }, { inlineLimit: 1024 });
    await bus.putBlob('seg/out.blobby.0.9.main', payload(9));
    const published = Date.now();

    const stored = (await bus.getMessage(STREAMS.output, { seq: out.seq }))!;
    const blob = stored.headers!.get('Lm-Blob');
    expect(blob).toBe(blobNames.output('out.blobby.0.0.main'));
    expect(blobNames.storeOf(blob)).toBe(BUCKETS.outputBlobs);
    expect((await readSegment(bus, stored)).data).toEqual(payload(0));
    const inputBlob = (await bus.getMessage(STREAMS.segments, { seq: input.seq }))!.headers!.get('Lm-Blob');
    expect(inputBlob).toBe('seg/seg.blobby.0.1.main');

    await waitFor('the output message to age out', (RETENTION_S + 10) * 1000, async () => (await bus.getMessage(STREAMS.output, { seq: out.seq })) === undefined);
    const messageGone = Date.now() - published;
    const blobGone = await waitFor('the output blob to be gone', 15_000, async () => ((await bus.blobSize(blob)) === undefined ? Date.now() - published : undefined));
    expect(await bus.getBlob(blob)).toBeUndefined();
    // Nothing else went with it.
    expect(await bus.blobSize(inputBlob)).toBe(4096);
    expect(await bus.getBlob('seg/out.blobby.0.9.main')).toEqual(payload(9));
    console.log(`[bus-output-blobs] retention ${RETENTION_S} s: message gone after ${messageGone} ms, its blob after ${blobGone} ms`);
  }, 45_000);
});
