#!/usr/bin/env node
// `node bench/cost-model.mjs`: what 100, 1,000 and 10,000 concurrent streams cost (docs/scaling.md,
// "Cost model"). Two kinds of input, both measured:
//
// - per stream, from the last full bench run (bench/results/latest.json, `npm run bench`): the CPU
//   of one live stream (the slope of "cores busy" over the streams of scenario 3's density ramp,
//   for the default chain as planned and for the 2-hop pass-through chain), the bytes of a segment
//   (the bench media's 2 s 720p segments) and the default chain's output bit rate (scenario 2);
// - here, now: JetStream throughput on loopback, publishing segment-sized messages into a work-queue
//   stream with a pull consumer acking them (one hop, as a stage sees it), on a 3-node cluster with
//   R3 file storage, R3 memory storage, and a single server (R1 file) for comparison, with the
//   nats-server processes' CPU per GB.
//
// It prints the table and writes bench/results/cost-model.json and cost-model.md. The sizing
// assumptions (machine size, utilisation, NIC) are named constants below and in the output.
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { STREAMS, consumers, subjects } from '@livemesh/contracts';
import { Bus, ensureTopology } from '@livemesh/bus';
import { ROOT, startNats } from './lib/mesh.mjs';
import { startNatsCluster } from './lib/cluster.mjs';
import { cpuOf, sleep } from './lib/proc.mjs';
import { linearFit, round } from './lib/stats.mjs';

const QUICK = process.env.BENCH_QUICK === '1';
/** Segments published per throughput run, and how many may wait for their ack at once. */
const MESSAGES = QUICK ? 60 : 400;
const IN_FLIGHT = 16;
const RUNS = QUICK ? 1 : 3;
const STREAM_COUNTS = [100, 1_000, 10_000];

/** Sizing assumptions: what a production machine is taken to be. */
const ASSUME = {
  workerCores: 16, // cores of one worker machine
  workerUtilisation: 0.7, // of its cores, what livemesh may use (headroom for spikes and failover)
  busCores: 8, // cores of one bus (nats-server) machine
  busUtilisation: 0.5, // a bus node must absorb a failed peer's leaders
  nicGbps: 10, // one bus machine's NIC
  nicUtilisation: 0.6,
  replicas: 3,
};

const results = JSON.parse(readFileSync(join(ROOT, 'bench', 'results', 'latest.json'), 'utf8'));

// ---- per-stream figures from the last full bench run -------------------------------------------

function perStreamCores(ramp) {
  const levels = ramp.livemesh.levels.filter((l) => l.pass);
  if (levels.length < 2) throw new Error('the density ramp has fewer than two passing levels: run `npm run bench` first');
  const fit = linearFit(levels.map((l) => l.streams), levels.map((l) => l.cpuCoresBusy));
  return { coresPerStream: fit.slope, fixedCores: fit.intercept, levels: levels.map((l) => [l.streams, round(l.cpuCoresBusy, 3)]), maxStreamsMeasured: ramp.livemesh.maxStreams, workers: ramp.workers };
}

const segmentSeconds = 2;
const segmentBytes = results.media.segmentBytes.mean;
const inputBytesPerSecond = segmentBytes / segmentSeconds;
const outputKbps = results.scenarios.vsFfmpeg.quality.livemesh.videoKbps + 64; // + the copied AAC at 64 kb/s
const chains = {
  default: {
    what: 'default chain (watermark + transcode 480p, fused into one hop, warm engine)',
    cpu: perStreamCores(results.scenarios.density.defaultChain),
    // ingest -> LM_SEG (the input) -> worker -> LM_OUT (the 480p output) -> delivery
    publishedBytesPerSecond: inputBytesPerSecond + (outputKbps * 1000) / 8,
    segBytesPerSecond: inputBytesPerSecond,
  },
  passthrough: {
    what: 'pass-through (2 hops, bytes unchanged)',
    cpu: perStreamCores(results.scenarios.density.passthrough),
    // hop 0, hop 1 and the output: three publishes of the input's bytes
    publishedBytesPerSecond: 3 * inputBytesPerSecond,
    segBytesPerSecond: 2 * inputBytesPerSecond,
  },
};

// ---- JetStream throughput, measured now -------------------------------------------------------

function cpuSeconds(pids) {
  return pids.reduce((sum, pid) => sum + (cpuOf(pid)?.self ?? 0), 0);
}

/**
 * One hop's worth of traffic on livemesh's own LM_SEG (ensureTopology with the replicas and storage
 * asked for): publish MESSAGES segments through the Bus (IN_FLIGHT at a time, each with its
 * Nats-Msg-Id), while the service's durable pull consumer acks each.
 */
async function throughput(url, pids, { replicas, storage }) {
  const bus = await Bus.connect({ url, name: 'bench-cost-model' });
  // A new cluster takes a moment to elect its meta leader and place the first streams.
  for (let i = 0; ; i++) {
    try {
      await ensureTopology(bus, { outputRetentionSeconds: 600, replicas, segmentStorage: storage });
      break;
    } catch (e) {
      if (i > 30) throw e;
      await sleep(500);
    }
  }
  const service = `cost${Date.now()}`;
  const consumer = await bus.durableConsumer(STREAMS.segments, { name: consumers.service(service), filter: subjects.serviceFilter(service), ackWaitMs: 30_000, maxDeliver: 1, maxAckPending: 1024 });
  const payload = new Uint8Array(segmentBytes);
  for (let i = 0; i < payload.length; i += 4096) payload[i] = (i * 7) & 0xff;

  let acked = 0;
  const messages = await consumer.consume({ maxMessages: 64 });
  const consumed = (async () => {
    for await (const m of messages) {
      m.ack();
      if (++acked >= MESSAGES) break;
    }
  })();
  const cpu0 = cpuSeconds(pids);
  const t0 = performance.now();
  let next = 0;
  const publisher = async () => {
    for (let i = next++; i < MESSAGES; i = next++) await bus.publish(subjects.segment(service, `s${i % 100}`, 0), payload, { msgId: `${service}-${i}` });
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, publisher));
  await consumed;
  const seconds = (performance.now() - t0) / 1000;
  const cpu = cpuSeconds(pids) - cpu0;
  messages.stop();
  await bus.deleteConsumer(STREAMS.segments, consumers.service(service));
  await bus.close();
  const gb = (MESSAGES * segmentBytes) / 1e9;
  return { seconds, mbPerSecond: (MESSAGES * segmentBytes) / 1e6 / seconds, segmentsPerSecond: MESSAGES / seconds, serverCpuSecondsPerGb: cpu / gb };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function measure(label, start, opts) {
  const server = await start();
  const pids = server.pids ?? [server.pid];
  try {
    const runs = [];
    for (let r = 0; r < RUNS; r++) {
      runs.push(await throughput(server.url, pids, opts));
      console.log(`  ${label} run ${r + 1}: ${round(runs[r].mbPerSecond, 1)} MB/s`);
    }
    return {
      label,
      ...opts,
      runs: runs.map((x) => ({ mbPerSecond: round(x.mbPerSecond, 1), serverCpuSecondsPerGb: round(x.serverCpuSecondsPerGb, 2) })),
      mbPerSecond: round(median(runs.map((x) => x.mbPerSecond)), 1),
      segmentsPerSecond: round(median(runs.map((x) => x.segmentsPerSecond)), 1),
      serverCpuSecondsPerGb: round(median(runs.map((x) => x.serverCpuSecondsPerGb)), 2),
    };
  } finally {
    await server.stop();
  }
}

const loadBefore = loadavg().map((x) => round(x, 2));
const started = new Date();
console.log(`cost model: ${MESSAGES} segments of ${round(segmentBytes / 1024, 0)} KiB per run, ${IN_FLIGHT} in flight, ${RUNS} run(s) each; load average ${loadBefore.join(' / ')}`);
const bus = {
  r1File: await measure('R1, file (one server)', startNats, { replicas: 1, storage: 'file' }),
  r3File: await measure('R3, file (3-node cluster)', () => startNatsCluster(3), { replicas: 3, storage: 'file' }),
  r3Memory: await measure('R3, memory (3-node cluster)', () => startNatsCluster(3), { replicas: 3, storage: 'memory' }),
};
const loadAfter = loadavg().map((x) => round(x, 2));
for (const b of Object.values(bus)) console.log(`  ${b.label}: ${b.mbPerSecond} MB/s (${b.segmentsPerSecond} segments/s), nats-server CPU ${b.serverCpuSecondsPerGb} s per GB`);

// ---- the model --------------------------------------------------------------------------------

// The model sizes the bus on the R3 storage that measured faster (docs/scaling.md says which
// LM_SEG uses and why): a cluster at that size would run with SEGMENT_STORAGE set to it.
const r3 = bus.r3Memory.mbPerSecond > bus.r3File.mbPerSecond ? bus.r3Memory : bus.r3File;
console.log(`  the model sizes the bus on ${r3.label}`);

function size(chain, streams) {
  const workerCores = streams * chain.cpu.coresPerStream;
  const workerMachines = Math.ceil(workerCores / (ASSUME.workerCores * ASSUME.workerUtilisation));
  const publishedMBps = (streams * chain.publishedBytesPerSecond) / 1e6;
  // Every published byte: client -> leader, leader -> 2 followers, leader -> the consumer.
  const busNetworkGbps = (publishedMBps * 8 * (1 + (ASSUME.replicas - 1) + 1)) / 1000;
  const busCpuCores = (publishedMBps / 1000) * r3.serverCpuSecondsPerGb; // summed over the 3 replicas
  const byCpu = Math.ceil(busCpuCores / (ASSUME.busCores * ASSUME.busUtilisation));
  // Each server sends what it leads to its followers and consumers, and receives its share: spread
  // over the servers, each NIC carries about network / servers in each direction.
  const byNic = Math.ceil(busNetworkGbps / (ASSUME.nicGbps * ASSUME.nicUtilisation));
  const busServers = Math.max(ASSUME.replicas, Math.ceil(Math.max(byCpu, byNic) / ASSUME.replicas) * ASSUME.replicas);
  // LM_SEG shards: no stream leader carries more than the whole measured R3 cluster took, and
  // every bus server leads at least one shard.
  const segMBps = (streams * chain.segBytesPerSecond) / 1e6;
  const shards = Math.max(busServers, Math.ceil(segMBps / r3.mbPerSecond));
  return {
    streams,
    workerCores: round(workerCores, 1),
    workerMachines,
    publishedMBps: round(publishedMBps, 1),
    busNetworkGbps: round(busNetworkGbps, 2),
    busCpuCores: round(busCpuCores, 1),
    busServers,
    lmSegShards: shards,
  };
}

const table = Object.fromEntries(Object.entries(chains).map(([k, c]) => [k, STREAM_COUNTS.map((n) => size(c, n))]));

const out = {
  date: started.toISOString(),
  command: 'node bench/cost-model.mjs',
  quick: QUICK,
  machine: { cores: cpus().length, cpuModel: cpus()[0]?.model, loadavgBefore: loadBefore, loadavgAfter: loadAfter },
  perStreamFrom: { date: results.date, machine: results.machine },
  inputs: {
    segmentBytes: round(segmentBytes, 0),
    segmentSeconds,
    inputMbps: round((inputBytesPerSecond * 8) / 1e6, 2),
    outputKbps: round(outputKbps, 0),
    chains: Object.fromEntries(Object.entries(chains).map(([k, c]) => [k, { what: c.what, coresPerStream: round(c.cpu.coresPerStream, 4), fixedCores: round(c.cpu.fixedCores, 3), levels: c.cpu.levels, workers: c.cpu.workers, publishedMBpsPerStream: round(c.publishedBytesPerSecond / 1e6, 3) }])),
  },
  bus,
  busSizedOn: r3.label,
  assumptions: ASSUME,
  table,
};

const md = [
  '# livemesh cost model',
  '',
  `- Date: ${out.date}; per-stream figures from the bench run of ${results.date}`,
  `- Machine: ${out.machine.cores} cores (${out.machine.cpuModel}); load average before ${loadBefore.join(' / ')}, after ${loadAfter.join(' / ')}`,
  `- Segments: ${round(segmentBytes / 1024, 0)} KiB per ${segmentSeconds} s (${out.inputs.inputMbps} Mb/s in); default chain output ${out.inputs.outputKbps} kb/s`,
  '',
  '## JetStream on loopback (one hop: publish, pull, ack)',
  '',
  '| Storage | MB/s | segments/s | nats-server CPU s per GB (all nodes) | runs |',
  '| --- | --- | --- | --- | --- |',
  ...Object.values(bus).map((b) => `| ${b.label} | ${b.mbPerSecond} | ${b.segmentsPerSecond} | ${b.serverCpuSecondsPerGb} | ${b.runs.map((r) => r.mbPerSecond).join(', ')} |`),
  '',
  '## Per stream',
  '',
  '| Chain | cores per stream (fit) | levels measured (streams, cores busy) | published MB/s per stream |',
  '| --- | --- | --- | --- |',
  ...Object.values(out.inputs.chains).map((c) => `| ${c.what} | ${c.coresPerStream} | ${c.levels.map(([s, x]) => `${s}: ${x}`).join(', ')} | ${c.publishedMBpsPerStream} |`),
  '',
  `## Sizing (worker machines of ${ASSUME.workerCores} cores at ${ASSUME.workerUtilisation * 100} %, bus machines of ${ASSUME.busCores} cores at ${ASSUME.busUtilisation * 100} % and ${ASSUME.nicGbps} Gb/s at ${ASSUME.nicUtilisation * 100} %, R${ASSUME.replicas}; bus CPU and shards from ${r3.label})`,
  '',
  '| Chain | Streams | Worker cores | Worker machines | Published to the bus MB/s | Bus network Gb/s | Bus CPU cores | Bus servers | LM_SEG shards |',
  '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ...Object.entries(table).flatMap(([k, rows]) => rows.map((r) => `| ${k} | ${r.streams.toLocaleString('en')} | ${r.workerCores} | ${r.workerMachines} | ${r.publishedMBps} | ${r.busNetworkGbps} | ${r.busCpuCores} | ${r.busServers} | ${r.lmSegShards} |`)),
  '',
].join('\n');

const dir = join(ROOT, 'bench', 'results');
await mkdir(dir, { recursive: true });
const suffix = QUICK ? 'cost-model.partial' : 'cost-model';
await writeFile(join(dir, `${suffix}.json`), JSON.stringify(out, null, 2) + '\n');
await writeFile(join(dir, `${suffix}.md`), md);
console.log(md);

// A consumer's heartbeat timer can outlive its closed connection: do not wait for it.
process.exit(0);
