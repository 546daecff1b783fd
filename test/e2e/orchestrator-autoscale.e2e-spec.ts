// Autoscaling on consumer lag with the process runtime: a slowed stage (a module written here that
// sleeps per segment) gets a burst of segments, the orchestrator's loop reads its consumer's lag,
// scales it 1 -> k, and once the lag is gone and the (short) stabilisation window has passed,
// back to 1 one replica per period, each removal a draining SIGTERM. Every seq comes out on lm.out.
// Real nats-server, the in-process orchestrator with the real process runtime and worker processes.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureServiceConsumer, publishSegment } from '@livemesh/bus';
import { BUCKETS, SEGMENT_HEADERS, STREAMS, consumers, subjects, type ChainSpec, type SegmentMeta, type ServiceEvent, type ServiceSpec } from '@livemesh/contracts';
import { ProcessRuntime } from '@livemesh/runtime';
import { STAGE_KIND } from '@livemesh/stage-sdk';
import { startInProcessOrchestrator, type InProcessOrchestrator } from '../support/in-process-orchestrator.js';
import { REPO_ROOT } from '../support/processes.js';
import { waitFor } from '../support/wait.js';

const SERVICE = 'slowpoke';
const STREAM = 'auto1';
const SEGMENTS = 36;
const SLEEP_MS = 250;

const STAGE_MODULE = `
export default {
  kind: '${STAGE_KIND}', name: '${SERVICE}', input: 'segments', inspect: false,
  params: { type: 'object', properties: {}, additionalProperties: false },
  process: async (ctx) => {
    await new Promise((r) => setTimeout(r, ${SLEEP_MS}));
    return { data: ctx.segment.data };
  },
};
`;

const meta = (seq: number): SegmentMeta => ({ streamId: STREAM, seq, hop: 0, rendition: 'main', pts: seq * 2, duration: 2, ingestTime: Date.now(), epoch: 0, chainVersion: 1 });

describe('orchestrator: autoscaling a slowed stage on its consumer lag (process runtime)', () => {
  let o: InProcessOrchestrator;
  let runtime: ProcessRuntime;
  const logs: string[] = [];
  let dir: string;
  const decisions: { at: number; event: ServiceEvent }[] = [];
  const outSeqs: number[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'livemesh-autoscale-'));
    await writeFile(join(dir, 'slow.mjs'), STAGE_MODULE);
    const logger = { log: (m: string) => logs.push(m), warn: (m: string) => logs.push(m), error: (m: string) => logs.push(m) };
    o = await startInProcessOrchestrator('autoscale-e2e', { LIVEMESH_STAGE_DIR: dir, LIVEMESH_DATA_DIR: dir }, (natsUrl) => {
      // The runtime the orchestrator builds for LIVEMESH_RUNTIME=process, with real worker processes.
      runtime = new ProcessRuntime({
        workerEntry: join(REPO_ROOT, 'apps', 'worker', 'dist', 'main.js'),
        env: { NATS_URL: natsUrl, LOG_LEVEL: 'log', LIVEMESH_STAGE_DIR: dir, LIVEMESH_STAGE_PACKAGES: '' },
        idleGraceMs: 60_000,
        logger,
      });
      return runtime;
    });
    const evt = o.bus.subscribe(subjects.serviceEvents(SERVICE));
    void (async () => {
      for await (const m of evt) decisions.push({ at: Date.now(), event: m.json<ServiceEvent>() });
    })();
    const out = o.bus.subscribe(subjects.allOutput);
    void (async () => {
      for await (const m of out) outSeqs.push(Number(m.headers?.get(SEGMENT_HEADERS.seq)));
    })();
    await o.bus.flush();
  }, 60_000);

  afterAll(async () => {
    await runtime?.close();
    await o?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  }, 60_000);

  it('goes 1 -> k -> 1 replicas and loses no segment', async () => {
    const spec: ServiceSpec = {
      name: SERVICE, version: '1.0.0', run: { module: join(dir, 'slow.mjs') }, input: 'segments',
      paramSchema: { type: 'object', properties: {}, additionalProperties: false },
      minReplicas: 1, maxReplicas: 3,
      // 4 segments per replica; evaluated every second; a 3 s scale-down window.
      autoscale: { enabled: true, targetLagPerReplica: 4, periodSeconds: 1, stabilisationSeconds: 3 },
    };
    const created = await o.fetch('/api/services', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(spec) });
    expect(created.status).toBe(201);
    // What a stream start does: the service's consumer (the orchestrator owns the topology), then
    // one replica (min 1). No operator scale, so nothing pins the count.
    await ensureServiceConsumer(o.bus, SERVICE, { ackWaitMs: 30_000, maxDeliver: 3 });
    await runtime.ensure({ service: spec, startParams: {} });
    await waitFor('the consumer of the first replica', 30_000, async () => (await o.bus.consumerInfo(STREAMS.segments, consumers.service(SERVICE))).name, { retryErrors: true });
    const chain: ChainSpec = { streamId: STREAM, version: 1, updatedAt: new Date().toISOString(), hops: [{ index: 0, service: SERVICE, params: {}, subject: subjects.segment(SERVICE, STREAM, 0), next: null }] };
    await o.bus.store(BUCKETS.chains).put(STREAM, chain);

    const t0 = Date.now();
    for (let seq = 0; seq < SEGMENTS; seq++) {
      await publishSegment(o.bus, subjects.segment(SERVICE, STREAM, 0), { meta: meta(seq), data: new TextEncoder().encode(`seg-${seq}`) }, { inlineLimit: 1 << 20 });
    }
    const live = async () => (await runtime.list(SERVICE)).filter((i) => i.state !== 'exited').length;
    await waitFor('a scale-up', 15_000, () => decisions.some((d) => d.event.data.direction === 'up'));
    const peak = await waitFor('more than one replica running', 15_000, async () => ((await live()) > 1 ? live() : undefined));
    await waitFor('every segment on lm.out', 30_000, () => new Set(outSeqs).size === SEGMENTS, { detail: () => `out: ${new Set(outSeqs).size}/${SEGMENTS}\n${logs.slice(-30).join('\n')}` });
    const drained = Date.now();
    await waitFor('back to one replica', 20_000, async () => (await live()) === 1 && decisions.at(-1)?.event.data.to === 1);

    const ups = decisions.filter((d) => d.event.data.direction === 'up');
    const downs = decisions.filter((d) => d.event.data.direction === 'down');
    expect(ups[0]!.event).toMatchObject({ service: SERVICE, kind: 'autoscaled', data: { from: 1 } });
    expect(ups[0]!.event.data.lag).toBeGreaterThan(4);
    const k = Math.max(...decisions.map((d) => d.event.data.to));
    expect(k).toBeGreaterThan(1);
    expect(k).toBeLessThanOrEqual(3);
    // Down one replica per period, each at least a period apart, the first after the lag was gone
    // for the stabilisation window (give or take the period it is evaluated in).
    expect(downs.map((d) => d.event.data.from - d.event.data.to)).toEqual(downs.map(() => 1));
    expect(downs.length).toBe(k - 1);
    // No flapping: every up before every down.
    expect(Math.max(...ups.map((d) => d.at))).toBeLessThan(Math.min(...downs.map((d) => d.at)));
    // No segment lost (a redelivery during a drain may repeat one; none is missing).
    expect([...new Set(outSeqs)].sort((a, b) => a - b)).toEqual(Array.from({ length: SEGMENTS }, (_, i) => i));

    const metrics = await (await o.fetch('/metrics')).text();
    expect(metrics).toMatch(new RegExp(`livemesh_autoscaler_desired_replicas\\{service="${SERVICE}"\\} 1`));
    expect(metrics).toMatch(new RegExp(`livemesh_autoscaler_decisions_total\\{service="${SERVICE}",direction="up"\\} ${ups.length}`));
    expect(metrics).toMatch(new RegExp(`livemesh_autoscaler_decisions_total\\{service="${SERVICE}",direction="down"\\} ${downs.length}`));
    console.log(`[orchestrator-autoscale] ${SEGMENTS} segments x ${SLEEP_MS} ms: peak ${k} replicas (${peak} seen running), ups ${ups.map((d) => `${d.event.data.from}->${d.event.data.to}@${d.at - t0}ms`).join(' ')}, downs ${downs.map((d) => `${d.event.data.from}->${d.event.data.to}@${d.at - t0}ms`).join(' ')}; all out at ${drained - t0} ms; duplicates on lm.out ${outSeqs.length - SEGMENTS}`);
  }, 90_000);
});
