// livemesh on a 3-node NATS cluster (docs/scaling.md, "A NATS cluster"): NATS_REPLICAS=3 makes
// every stream, bucket and consumer R3, and a live stream through the default chain loses and
// doubles nothing while the LM_SEG stream leader, the service consumer's leader and the meta
// leader are SIGKILLed in turn (each node started again), and while every node goes through a
// lame-duck restart. The cluster runs on loopback (test/support/nats-cluster.ts).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Bus } from '@livemesh/bus';
import { SEGMENT_HEADERS, STREAMS, consumers, subjects, type StreamEvent } from '@livemesh/contracts';
import { assertContinuous, generateClip, probeHls, publishRtmp } from '../support/media.js';
import { startMeshOn, waitForSegments, type Mesh } from '../support/mesh.js';
import { startNatsCluster, type NatsCluster } from '../support/nats-cluster.js';
import { waitFor } from '../support/wait.js';

const STREAM = 'r3';

/** Seqs published on a subject (a core subscription sees every publish, stored or not). */
function seqsOn(bus: Bus, subject: string): number[] {
  const seqs: number[] = [];
  const sub = bus.subscribe(subject);
  void (async () => {
    for await (const m of sub) seqs.push(Number(m.headers?.get(SEGMENT_HEADERS.seq)));
  })();
  return seqs;
}

describe('livemesh on a 3-node NATS cluster (R3)', () => {
  let cluster: NatsCluster;
  let mesh: Mesh<NatsCluster>;
  let bus: Bus;
  let dir: string;
  let clip: string;
  const events: StreamEvent[] = [];
  const log: string[] = [];
  const step = (s: string) => log.push(`${new Date().toISOString().slice(11, 23)} ${s}`);

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'livemesh-cluster-'));
    // Longer than the faults take: the publish is ended once they are over. Small frames.
    clip = await generateClip({ seconds: 120, width: 320, height: 180, fps: 10, out: join(dir, 'src.flv') });
    cluster = await startNatsCluster();
    mesh = await startMeshOn(cluster, {
      NATS_REPLICAS: '3',
      // 2 s segments: the faults take ~35 s of wall time whatever the segment length, and each
      // segment costs an ffprobe in the continuity check.
      SEGMENT_SECONDS: '2',
      // Every segment of the run stays in the playlist for the continuity check.
      HLS_WINDOW: '300',
      MEDIA_TIMEOUT_MS: '60000',
      // One attempt per segment and stage: an election must be ridden out inside the bus's
      // publish (its retry under Nats-Msg-Id), not by spending the stage's attempts.
      STAGE_MAX_ATTEMPTS: '1',
    });
    bus = await mesh.connectBus('nats-cluster-e2e');
    const sub = bus.subscribe(subjects.streamEvents());
    void (async () => {
      for await (const m of sub) events.push(m.json<StreamEvent>());
    })();
  }, 120_000);

  afterAll(async () => {
    if (process.env.DEBUG_CLUSTER_DIR) {
      const { writeFile } = await import('node:fs/promises');
      for (const [name, app] of Object.entries(mesh?.apps ?? {})) await writeFile(join(process.env.DEBUG_CLUSTER_DIR, `${name}.log`), app.lines.join('\n'));
      await writeFile(join(process.env.DEBUG_CLUSTER_DIR, 'nats.log'), cluster?.logs() ?? '');
      await writeFile(join(process.env.DEBUG_CLUSTER_DIR, 'steps.log'), log.join('\n'));
    }
    await bus?.close();
    await mesh?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  }, 60_000);

  it('keeps every acked segment, once, in order, through leader kills and a rolling lame-duck restart', async () => {
    step('stream starting');
    // A budget that outlasts a leader election (nats-server waits 4-9 s before calling one): this
    // test is about the bus losing nothing, not about live-edge drops (docs/design.md).
    const def = await mesh.api('GET', '/api/pipelines/default');
    expect(def.status).toBe(200);
    const put = await mesh.api('PUT', '/api/pipelines/default', { ...def.body, latencyBudgetMs: 120_000 });
    expect(put.status).toBe(200);

    const stream = await mesh.startStream({ id: STREAM });
    expect(stream.chain.hops.map((h) => h.service)).toEqual(['watermark', 'transcode']); // the default chain (fused into watermark's hop)
    const service = stream.chain.hops[0]!.service;
    const ingested = seqsOn(bus, stream.chain.hops[0]!.subject);
    const output = seqsOn(bus, subjects.output(STREAM, 'main'));
    await bus.flush();

    const stop = new AbortController();
    const encoder = publishRtmp(clip, stream.publish.rtmp, { realtime: true, signal: stop.signal, timeoutMs: 150_000 });
    await waitFor('a first output segment', 60_000, () => output.length > 0);

    const outBefore = () => output.length;
    /** The kill of one leader, the node up again, the cluster led and current again, segments flowing again. */
    const fault = async (what: string, leader: string, how: 'kill' | 'lameDuck') => {
      const node = cluster.node(leader);
      const before = outBefore();
      step(`${how} ${what} = ${leader}`);
      await node[how]();
      await node.up();
      await cluster.waitConverged({ timeoutMs: 45_000 });
      await waitFor(`output to move on after the ${what}`, 45_000, () => outBefore() > before);
      step(`${what} recovered; ${output.length} out`);
    };

    await fault('LM_SEG stream leader', await cluster.streamLeader(STREAMS.segments), 'kill');
    await fault(`${consumers.service(service)} consumer leader`, await cluster.consumerLeader(STREAMS.segments, consumers.service(service)), 'kill');
    await fault('meta leader', await cluster.metaLeader(), 'kill');
    for (const node of cluster.nodes) await fault(`rolling restart of ${node.name}`, node.name, 'lameDuck');

    stop.abort();
    await encoder;
    step('publish ended');
    const events$ = () => events.filter((e) => e.streamId === STREAM);
    // Ingest's own count of hop-0 publishes JetStream acked (its log line when the source ends).
    const [, acked, cut] = (await mesh.apps.ingest.waitForLine(/stream r3: rtmp source ended; (\d+) of (\d+) segment\(s\) published/, 60_000)).map(Number);
    step(`ingest: ${acked} of ${cut} published`);

    // What LM_OUT stored for the stream (the test's core subscriptions miss what comes while its
    // own link is moving to another node): every seq, how often, and any gap marker.
    const stored = new Map<number, number>();
    const gaps: number[] = [];
    let cursor = 0;
    const readStored = async () => {
      const info = await bus.streamInfo(STREAMS.output);
      for (let seq = Math.max(cursor + 1, info.firstSeq); seq <= info.lastSeq; seq++) {
        const m = await bus.getMessage(STREAMS.output, { seq });
        cursor = seq;
        if (!m || !m.subject.startsWith(`lm.out.${STREAM}.`)) continue;
        const s = Number(m.headers?.get(SEGMENT_HEADERS.seq));
        if (m.headers?.get(SEGMENT_HEADERS.gap)) gaps.push(s);
        stored.set(s, (stored.get(s) ?? 0) + 1);
      }
      return stored;
    };
    await waitFor(`${acked} segments stored on LM_OUT`, 60_000, async () => (await readStored()).size >= acked!, {
      intervalMs: 500,
      detail: () => `stored ${[...stored.keys()].sort((x, y) => x - y).join(',')}\n${log.join('\n')}`,
    });
    await new Promise((r) => setTimeout(r, 2_000)); // a late duplicate would land now
    await readStored();
    step(`LM_OUT holds ${stored.size} seqs`);

    const inSeqs = Array.from({ length: acked! }, (_, i) => i);
    const missing = [...new Set([...inSeqs, ...ingested])].filter((s) => !stored.has(s));
    const duplicates = [...stored].filter(([, n]) => n > 1).map(([s]) => s);
    const trouble = events$().filter((e) => ['segments-dropped', 'dead-letter', 'segment-failed'].includes(e.kind));
    expect({ missing, duplicates, gaps, trouble }).toEqual({ missing: [], duplicates: [], gaps: [], trouble: [] });
    // Every segment ingest cut was acked, and the faults fell inside the stream.
    expect(acked).toBe(cut);
    expect(acked).toBeGreaterThan(12);

    await waitForSegments(stream.playback.hls, inSeqs.length, 30_000);
    step('playlist complete');
    const hls = await probeHls(stream.playback.hls, { concurrency: 4 });
    assertContinuous(hls, { size: { width: 854, height: 480 }, audio: true, minSegments: inSeqs.length });
    step('checked');
  }, 240_000);

  it('has every stream, bucket and durable consumer on three replicas, and they converge', async () => {
    await cluster.waitConverged({ timeoutMs: 30_000, sameState: true });
    type Detail = { name: string; config?: { num_replicas?: number }; cluster?: { leader?: string; replicas?: unknown[] }; consumer_detail?: { name: string; config?: { durable_name?: string }; cluster?: { replicas?: unknown[] } }[] };
    // Every node's view, each stream as its leader reports it.
    const byName = new Map<string, Detail>();
    for (const node of cluster.nodes) {
      const jsz = (await (await fetch(`${node.monitorUrl}/jsz?accounts=true&streams=true&consumers=true&config=true`)).json()) as { account_details?: { stream_detail?: Detail[] }[] };
      for (const st of (jsz.account_details ?? []).flatMap((a) => a.stream_detail ?? [])) if (!byName.has(st.name) || st.cluster?.leader === node.name) byName.set(st.name, st);
    }
    const streams = [...byName.values()];
    const names = streams.map((s) => s.name);
    expect(names).toEqual(expect.arrayContaining([STREAMS.segments, STREAMS.output, STREAMS.events, 'KV_lm_chains', 'OBJ_lm_blobs']));
    const replicas = streams.map((s) => [s.name, s.config?.num_replicas, (s.cluster?.replicas ?? []).length + 1]);
    expect(replicas).toEqual(streams.map((s) => [s.name, 3, 3]));
    // Durable consumers only: the ordered ones (KV watchers, delivery's reader) are R1 in memory by design.
    const durables = streams.flatMap((s) => (s.consumer_detail ?? []).filter((c) => c.config?.durable_name).map((c) => [`${s.name}/${c.name}`, (c.cluster?.replicas ?? []).length + 1]));
    expect(durables.map(([n]) => n)).toEqual(expect.arrayContaining([`${STREAMS.segments}/${consumers.service('watermark')}`]));
    expect(durables).toEqual(durables.map(([n]) => [n, 3]));
  }, 60_000);
});
