// A segment that kills its worker process on every attempt (the worker dies before it can retry or
// dead-letter it): the server gives it up at max_deliver, and the orchestrator dead-letters it from
// the stored max-deliveries advisory, with a `dead-letter` event, and removes it from LM_SEG; the
// stream's next segments come out. With the orchestrator down when the advisory fires, it does so
// once it is back. Real nats-server, the real orchestrator and worker processes; the worker runs a
// stage module written here, restarted by the test (as `livemesh up` or a container engine would).
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Bus, ensureServiceConsumer, publishSegment } from '@livemesh/bus';
import { BUCKETS, SEGMENT_HEADERS, STREAMS, consumers, subjects, type ChainSpec, type SegmentMeta, type StreamEvent } from '@livemesh/contracts';
import { STAGE_KIND } from '@livemesh/stage-sdk';
import { meshEnv } from '../support/mesh.js';
import { startNatsServer, type NatsServer } from '../support/nats-server.js';
import { spawnApp, type AppProcess } from '../support/processes.js';
import { waitFor } from '../support/wait.js';

const SERVICE = 'crashy';
const MAX_ATTEMPTS = 2;
/** The service consumer's max_deliver: the SDK's attempts plus its own dead-letter delivery. */
const DELIVERIES = MAX_ATTEMPTS + 1;

// Exits the worker process on a segment whose payload starts with "crash", on every attempt; the
// line before it is how the test sees which attempts reached a worker.
const STAGE_MODULE = `
export default {
  kind: '${STAGE_KIND}', name: '${SERVICE}', input: 'segments', inspect: false,
  params: { type: 'object', properties: {}, additionalProperties: false },
  process: async (ctx) => {
    const { streamId, seq } = ctx.segment.meta;
    if (new TextDecoder().decode(ctx.segment.data).startsWith('crash')) {
      process.stderr.write('CRASHING at ' + Date.now() + ' on ' + streamId + '#' + seq + '\\n');
      process.exit(3);
    }
    return { data: ctx.segment.data };
  },
};
`;

const text = (d: Uint8Array) => new TextDecoder().decode(d);
const meta = (streamId: string, seq: number): SegmentMeta => ({
  streamId, seq, hop: 0, rendition: 'main', pts: seq * 2, duration: 2, ingestTime: Date.now(), epoch: 0, chainVersion: 1,
});

/** Runs the worker and starts it again whenever it exits, until stop(). */
function superviseWorker(env: Record<string, string>): { runs: AppProcess[]; crashes(streamId: string, seq: number): number[]; stop(): Promise<void> } {
  const runs: AppProcess[] = [];
  let stopped = false;
  const start = (): void => {
    const app = spawnApp('worker', env);
    runs.push(app);
    void app.exited.then(() => {
      if (!stopped) setTimeout(start, 100);
    });
  };
  start();
  return {
    runs,
    crashes: (streamId, seq) =>
      runs.flatMap((r) => r.lines).flatMap((l) => {
        const m = l.match(/CRASHING at (\d+) on (\S+)#(\d+)/);
        return m && m[2] === streamId && Number(m[3]) === seq ? [Number(m[1])] : [];
      }),
    async stop() {
      stopped = true;
      await Promise.all(runs.map((r) => r.stop()));
    },
  };
}

describe('faults: a segment whose worker dies on every attempt', () => {
  let nats: NatsServer;
  let bus: Bus;
  let dir: string;
  let env: Record<string, string>;
  let orchestrator: AppProcess;
  let worker: ReturnType<typeof superviseWorker>;
  const events: { at: number; event: StreamEvent }[] = [];
  const outputs: { streamId: string; data: string }[] = [];

  const startOrchestrator = async (): Promise<AppProcess> => {
    const app = spawnApp('orchestrator', env);
    await waitFor('the orchestrator to be healthy', 60_000, async () => (await fetch(`http://127.0.0.1:${env.HTTP_PORT}/health`)).ok, { retryErrors: true, intervalMs: 200, detail: () => app.tail(30) });
    return app;
  };
  const chain = (streamId: string): ChainSpec => ({
    streamId, version: 1, updatedAt: new Date().toISOString(),
    hops: [{ index: 0, service: SERVICE, params: {}, subject: subjects.segment(SERVICE, streamId, 0), next: null }],
  });
  const send = (streamId: string, seq: number, body: string) =>
    publishSegment(bus, subjects.segment(SERVICE, streamId, 0), { meta: meta(streamId, seq), data: new TextEncoder().encode(body) }, { inlineLimit: 1 << 20 });
  const deadLetterEvent = (streamId: string) => events.find((e) => e.event.streamId === streamId && e.event.kind === 'dead-letter');
  const queued = async (streamId: string) => (await bus.streamInfo(STREAMS.segments, { subjects: subjects.streamSegments(streamId) })).subjects;
  const deadLetters = async (streamId: string) => (await bus.streamInfo(STREAMS.deadLetter, { subjects: subjects.deadLetter(SERVICE, streamId) })).subjects[subjects.deadLetter(SERVICE, streamId)] ?? 0;

  beforeAll(async () => {
    nats = await startNatsServer();
    dir = await mkdtemp(join(tmpdir(), 'livemesh-faults-dlq-'));
    const module = join(dir, 'crashy.mjs');
    await writeFile(module, STAGE_MODULE);
    // A short ack wait: a dead worker's segment comes back after 1 s.
    env = await meshEnv(nats.url, dir, { STAGE_ACK_WAIT_MS: '1000', STAGE_MAX_ATTEMPTS: String(MAX_ATTEMPTS), STAGE_ENGINE: 'cli', LOG_LEVEL: 'log' });
    orchestrator = await startOrchestrator();
    bus = await Bus.connect({ url: nats.url, name: 'faults-dead-letter-e2e' });
    const evt = bus.subscribe(subjects.streamEvents());
    void (async () => {
      for await (const m of evt) events.push({ at: Date.now(), event: m.json<StreamEvent>() });
    })();
    const out = bus.subscribe(subjects.allOutput);
    void (async () => {
      for await (const m of out) outputs.push({ streamId: m.headers?.get(SEGMENT_HEADERS.streamId) ?? '', data: text(m.data) });
    })();
    await bus.flush();
    for (const id of ['crash1', 'crash2']) await bus.store(BUCKETS.chains).put(id, chain(id));
    // The orchestrator creates a service's consumer when it starts its workers; this test starts
    // the worker itself, so it does the orchestrator's part with the same settings.
    await ensureServiceConsumer(bus, SERVICE, { ackWaitMs: 1000, maxDeliver: MAX_ATTEMPTS });
    // The test's stage lives in its temp dir, which this worker is told to load stages from.
    worker = superviseWorker({ ...env, LIVEMESH_SERVICE: SERVICE, LIVEMESH_STAGE_MODULE: module, LIVEMESH_STAGE_DIR: dir });
    await waitFor('the worker consuming', 30_000, () => worker.runs[0]!.lines.some((l) => /consuming lm\.seg\.crashy/.test(l)), { detail: () => worker.runs[0]!.tail(30) });
  }, 120_000);

  afterAll(async () => {
    await worker?.stop();
    await orchestrator?.stop();
    await bus?.close();
    await nats?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  }, 60_000);

  it('dead-letters it with an event after the configured attempts, empties LM_SEG for the stream, and the stream goes on', async () => {
    await send('crash1', 0, 'ok-0');
    await waitFor('seq 0 out', 20_000, () => outputs.some((o) => o.data === 'ok-0'));
    await send('crash1', 1, 'crash-1');
    const dead = await waitFor('the dead-letter event', 40_000, () => deadLetterEvent('crash1'), { detail: () => `${orchestrator.tail(20)}\n--- worker:\n${worker.runs.at(-1)!.tail(20)}` });
    const attempts = worker.crashes('crash1', 1);
    expect(dead.event).toMatchObject({ service: SERVICE, hop: 0, seq: 1, data: { code: 'LM_WORKER_CRASHED', attempts: DELIVERIES } });
    expect(dead.event.message).toMatch(/delivered 3 times .*never acknowledged: the worker died on every attempt/);
    // Every delivery the server counted; a worker saw each one unless it went to the pull request a
    // just-killed worker left at the server (it counts, nobody gets it, the ack wait brings it back).
    expect(attempts.length).toBeGreaterThanOrEqual(1);
    expect(attempts.length).toBeLessThanOrEqual(DELIVERIES);

    const dlq = await bus.getMessage(STREAMS.deadLetter, { lastBySubject: subjects.deadLetter(SERVICE, 'crash1') });
    expect(text(dlq!.data)).toBe('crash-1');
    expect(dlq!.headers?.get(SEGMENT_HEADERS.error)).toMatch(/^LM_WORKER_CRASHED: delivered 3 times/);
    expect(dlq!.headers?.get(SEGMENT_HEADERS.msgId)).toBe('seg.crash1.0.1.main');
    expect(await queued('crash1')).toEqual({});

    // The stream goes on: its next segments come out of a fresh worker.
    await send('crash1', 2, 'ok-2');
    await send('crash1', 3, 'ok-3');
    await waitFor('seq 2 and 3 out', 20_000, () => ['ok-2', 'ok-3'].every((d) => outputs.some((o) => o.data === d)));
    expect(outputs.filter((o) => o.streamId === 'crash1').map((o) => o.data).sort()).toEqual(['ok-0', 'ok-2', 'ok-3']);
    expect(await deadLetters('crash1')).toBe(1);
    expect(events.filter((e) => e.event.streamId === 'crash1' && e.event.kind === 'dead-letter')).toHaveLength(1);
    console.log(`[faults-dead-letter] deliveries=${DELIVERIES} (seen by a worker: ${attempts.length}) worker runs=${worker.runs.length} first delivery -> dead letter: ${dead.at - attempts[0]!} ms (ack wait 1000 ms)`);
  }, 60_000);

  it('dead-letters it when the orchestrator was down as the advisory fired, once it is back', async () => {
    await orchestrator.stop(15_000);
    await send('crash2', 0, 'crash-0');
    // The advisory is stored while nobody handles it.
    await waitFor('the advisory stored in LM_SEG_FAULTS', 40_000, async () => (await bus.streamInfo(STREAMS.segmentFaults)).messages === 1);
    const storedAt = Date.now();
    const attempts = worker.crashes('crash2', 0);
    expect(attempts.length).toBeGreaterThanOrEqual(1);
    expect(deadLetterEvent('crash2')).toBeUndefined();
    expect(Object.values(await queued('crash2'))).toEqual([1]);

    const back = Date.now();
    orchestrator = await startOrchestrator();
    const dead = await waitFor('the dead-letter event after the restart', 30_000, () => deadLetterEvent('crash2'), { detail: () => orchestrator.tail(30) });
    expect(dead.event).toMatchObject({ service: SERVICE, seq: 0, data: { code: 'LM_WORKER_CRASHED', attempts: DELIVERIES } });
    expect(await queued('crash2')).toEqual({});
    expect(await deadLetters('crash2')).toBe(1);
    await waitFor('the advisory acked', 10_000, async () => (await bus.streamInfo(STREAMS.segmentFaults)).messages === 0);
    const state = await bus.consumerInfo(STREAMS.segmentFaults, consumers.segmentFaults);
    expect(state.ackPending).toBe(0);
    console.log(`[faults-dead-letter] orchestrator down: deliveries=${DELIVERIES} (seen by a worker: ${attempts.length}), first delivery -> advisory seen stored: ${storedAt - attempts[0]!} ms; restart -> dead letter: ${dead.at - back} ms`);
  }, 90_000);
});
