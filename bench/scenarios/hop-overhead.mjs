// Scenario 1: per-hop overhead. Segments go one at a time through a chain of N pass-through hops
// (real worker process, real nats-server, no re-encode); the baseline moves the same bytes through
// N hops with no bus (each hop writes the segment to a file and the next reads it back).
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { collectOutputs, deleteChain, publishHop0, putChain, THROUGHPUT_BUDGET_MS, startWorker } from '../lib/mesh.mjs';
import { diffCpu, snapshotCpu } from '../lib/proc.mjs';
import { quantile, summary } from '../lib/stats.mjs';
import { STREAMS, consumers, subjects } from '@livemesh/contracts';

/**
 * The broker alone, as a reference: one JetStream work-queue hop (publish, stored, delivered to a
 * pull consumer, acked) in this process, without the stage SDK around it. It runs on LM_SEG under
 * a service name no stage uses, through the Bus like everything else.
 */
async function rawJetStreamHop(bus, data, count) {
  const service = 'benchraw';
  const subject = subjects.segment(service, 'raw', 0);
  const consumer = await bus.durableConsumer(STREAMS.segments, { name: consumers.service(service), filter: subjects.serviceFilter(service), ackWaitMs: 30_000, maxDeliver: 1, maxAckPending: 1 });
  await bus.purge(STREAMS.segments, { filter: subjects.serviceFilter(service) });
  const messages = await consumer.consume({ maxMessages: 1 });
  const iter = messages[Symbol.asyncIterator]();
  const ms = [];
  try {
    for (let i = 0; i < count; i++) {
      const t0 = performance.now();
      await bus.publish(subject, data);
      const { value: msg } = await iter.next();
      const at = performance.now();
      await msg.ackAck();
      ms.push(at - t0);
    }
  } finally {
    messages.stop();
    await bus.purge(STREAMS.segments, { filter: subjects.serviceFilter(service) });
  }
  return ms;
}

const MB = 1_000_000;

export async function hopOverhead(ctx) {
  const { cfg, bus, nats } = ctx;
  const hops = cfg.s1.hops;
  const modes = [
    // INLINE_LIMIT_BYTES above the largest segment: the bytes ride in the message.
    { mode: 'inline', inlineLimit: 8 * 1024 * 1024 - 64 * 1024 },
    // The object store for every segment (livemesh's claim check; its default sends >900 KiB this way).
    { mode: 'object-store', inlineLimit: 1024 },
  ];
  const out = collectOutputs(bus);
  const dir = await mkdtemp(join(tmpdir(), 'livemesh-bench-s1-'));
  const rows = [];
  try {
    for (const { mode, inlineLimit } of modes) {
      const worker = await startWorker(nats.url, 'passthrough', `bench-pt-${mode}`, { INLINE_LIMIT_BYTES: String(inlineLimit) });
      try {
        for (const sizeMb of cfg.s1.sizesMb) {
          const data = randomBytes(Math.round(sizeMb * MB));
          const perRun = [];
          for (let run = 0; run < cfg.runs; run++) {
            const streamId = `s1-${mode === 'inline' ? 'in' : 'os'}-${String(sizeMb).replace('.', '_')}-r${run}-${Date.now() % 1e6}`;
            const chain = await putChain(bus, streamId, Array.from({ length: hops }, () => ({ service: 'passthrough' })), { latencyBudgetMs: THROUGHPUT_BUDGET_MS });
            const lat = [];
            const segments = mode === 'inline' ? cfg.s1.segments : cfg.s1.objectStoreSegments;
            const total = cfg.s1.warmup + segments;
            let cpuBefore;
            let driverBefore;
            for (let seq = 0; seq < total; seq++) {
              if (seq === cfg.s1.warmup) {
                cpuBefore = snapshotCpu({ nats: nats.pid, worker: worker.pid });
                driverBefore = process.cpuUsage();
              }
              const t0 = performance.now();
              await publishHop0(bus, chain, seq, data, { inlineLimit });
              await out.until(() => out.of(streamId).has(seq), 30_000, `${streamId}#${seq}`);
              if (seq >= cfg.s1.warmup) lat.push(out.of(streamId).get(seq).at - t0);
            }
            const cpu = diffCpu(cpuBefore, snapshotCpu({ nats: nats.pid, worker: worker.pid }));
            const drv = process.cpuUsage(driverBefore);
            const driverSec = (drv.user + drv.system) / 1e6;
            const n = segments;
            // CPU of everything on the path (server, worker, and the publisher/collector standing in
            // for ingest and delivery), per segment per hop.
            const cpuMsPerHop = ((cpu.nats.self + cpu.worker.self + driverSec) * 1000) / n / hops;
            perRun.push({ run, streamId, perHopMs: lat.map((l) => l / hops), endToEndMs: lat, cpuMsPerHop, cpu: { nats: cpu.nats.self, worker: cpu.worker.self, driver: driverSec } });
            await deleteChain(bus, streamId);
          }
          // Baseline: the same bytes, the same number of hops, through the file system.
          const base = [];
          const baseCpu = [];
          for (let run = 0; run < cfg.runs; run++) {
            const ms = [];
            const c0 = process.cpuUsage();
            for (let seq = 0; seq < cfg.s1.warmup + cfg.s1.segments; seq++) {
              const t0 = performance.now();
              let buf = data;
              for (let h = 0; h < hops; h++) {
                const f = join(dir, `hop${h}.ts`);
                await writeFile(f, buf);
                buf = await readFile(f);
              }
              if (seq >= cfg.s1.warmup) ms.push((performance.now() - t0) / hops);
            }
            const c = process.cpuUsage(c0);
            base.push(ms);
            baseCpu.push(((c.user + c.system) / 1e3) / cfg.s1.segments / hops);
          }
          const raw = mode === 'inline' ? await rawJetStreamHop(bus, data, cfg.s1.warmup + cfg.s1.segments * cfg.runs) : undefined;
          const rawMs = raw?.slice(cfg.s1.warmup);
          const lmAll = perRun.flatMap((r) => r.perHopMs);
          const baseAll = base.flat();
          const row = {
            mode,
            sizeMb,
            hops,
            segmentsPerRun: mode === 'inline' ? cfg.s1.segments : cfg.s1.objectStoreSegments,
            livemesh: {
              p50: quantile(lmAll, 0.5),
              p99: quantile(lmAll, 0.99),
              p50PerRun: summary(perRun.map((r) => quantile(r.perHopMs, 0.5))),
              p99PerRun: summary(perRun.map((r) => quantile(r.perHopMs, 0.99))),
              cpuMsPerHop: summary(perRun.map((r) => r.cpuMsPerHop)),
            },
            baseline: {
              p50: quantile(baseAll, 0.5),
              p99: quantile(baseAll, 0.99),
              cpuMsPerHop: summary(baseCpu),
            },
            rawJetStream: rawMs ? { p50: quantile(rawMs, 0.5), p99: quantile(rawMs, 0.99) } : undefined,
            raw: { livemesh: perRun, baselinePerHopMs: base, rawJetStreamMs: rawMs },
          };
          // The no-bus hop's typical cost is subtracted from every livemesh percentile: the tail of a
          // file write + read on a busy machine says nothing about the bus, so it is not credited.
          row.added = { p50: row.livemesh.p50 - row.baseline.p50, p99: row.livemesh.p99 - row.baseline.p50, cpuMsPerHop: row.livemesh.cpuMsPerHop.median - row.baseline.cpuMsPerHop.median };
          rows.push(row);
          ctx.log(`s1 ${mode} ${sizeMb} MB: per hop p50 ${row.livemesh.p50.toFixed(2)} ms (baseline ${row.baseline.p50.toFixed(2)}), p99 ${row.livemesh.p99.toFixed(2)} ms${row.rawJetStream ? `; raw JetStream hop p50 ${row.rawJetStream.p50.toFixed(2)} ms` : ''}`);
        }
      } finally {
        await worker.stop();
      }
    }
  } finally {
    out.stop();
    await rm(dir, { recursive: true, force: true });
  }
  return { hops, payload: 'random bytes of the given size (a pass-through never parses them)', rows };
}
