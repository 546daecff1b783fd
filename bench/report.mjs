// Renders bench/results/latest.json as Markdown: one table of targets, then one per scenario.
// Every number comes from the result object; nothing here is a figure of its own.

const f = (x, d = 1) => (x === undefined || x === null || !Number.isFinite(x) ? 'n/a' : x.toFixed(d));
const ms = (x, d = 1) => (x === undefined || x === null || !Number.isFinite(x) ? 'n/a' : `${x.toFixed(d)} ms`);
const s = (x, d = 2) => (x === undefined || x === null || !Number.isFinite(x) ? 'n/a' : `${(x / 1000).toFixed(d)} s`);
const x = (v, d = 2) => (v === undefined || v === null || !Number.isFinite(v) ? 'n/a' : `${v.toFixed(d)}x`);
const pct = (v, d = 1) => (v === undefined || v === null || !Number.isFinite(v) ? 'n/a' : `${(v * 100).toFixed(d)} %`);
const met = (ok) => (ok === undefined ? 'n/a' : ok ? 'yes' : '**no**');
const spread = (sm, fmt) => (sm && sm.n > 1 ? ` (${fmt(sm.min)}-${fmt(sm.max)})` : '');
const table = (head, rows) => [`| ${head.join(' | ')} |`, `| ${head.map(() => '---').join(' | ')} |`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');

/** livemesh's p99 over the no-bus hop's p50: a busy machine's file-I/O tail is not credited to the bus. */
const addedP99 = (row) => row.livemesh.p99 - row.baseline.p50;

/** The default chain's livemesh run in scenario 2 (fused, warm engine), as old results lack variants. */
const s2Default = (s2) => s2.variants?.[s2.defaultVariant];

export function targetRows(r) {
  const rows = [];
  const s2 = r.scenarios.vsFfmpeg;
  const lm = s2 && s2Default(s2);
  if (lm) {
    const ratio = lm.vsOneFfmpeg;
    rows.push([`Default chain throughput vs one ffmpeg (same filters; ${lm.describe})`, `${x(s2.oneFfmpeg.xRealtime.median)} realtime`, `${x(lm.xRealtime.median)} realtime`, x(ratio), '>= 0.90x (stretch 0.95x)', ratio >= 0.95 ? 'yes (stretch too)' : met(ratio >= 0.9)]);
  }
  const s3 = r.scenarios.density;
  const dc = s3?.defaultChain;
  if (dc?.oneFfmpegPerStream) {
    const o = dc.oneFfmpegPerStream;
    // No ratio over a baseline that kept no stream; a side that never broke only gives a bound.
    const ratio = o.maxStreams > 0 ? dc.livemesh.maxStreams / o.maxStreams : undefined;
    const bound = ratio === undefined ? ' (the baseline kept no stream)' : !dc.livemesh.brokeAt ? ' (livemesh did not break: at least)' : !o.brokeAt ? ' (one ffmpeg per stream did not break: at most)' : '';
    rows.push([`Live streams on one machine, default chain (${dc.engine} engine, ${dc.fused?.length ? 'fused' : 'unfused'}), vs one ffmpeg per stream`, `${o.maxStreams} stream(s)`, `${dc.livemesh.maxStreams} stream(s)`, x(ratio) + bound, '>= 0.85x', met(ratio === undefined ? undefined : ratio >= 0.85)]);
  }
  if (lm) {
    rows.push([`Bus + orchestration CPU share (server, workers' node, harness bus I/O; ${s2.defaultVariant})`, 'n/a (no bus)', pct(lm.busShare.median), '', '<= 2 %', met(lm.busShare.median <= 0.02)]);
  }
  const s1 = r.scenarios.hopOverhead;
  if (s1) {
    for (const row of s1.rows.filter((q) => q.sizeMb === 1)) {
      rows.push([`Added latency per hop, 1 MB, ${row.mode}, p50`, ms(row.baseline.p50, 2), ms(row.livemesh.p50, 2), `+${ms(row.added.p50, 2)}`, '<= 3 ms added', met(row.added.p50 <= 3)]);
      rows.push([`Added latency per hop, 1 MB, ${row.mode}, p99`, `${ms(row.baseline.p50, 2)} (p50)`, ms(row.livemesh.p99, 2), `+${ms(addedP99(row), 2)}`, '<= 10 ms added', met(addedP99(row) <= 10)]);
    }
  }
  const first = dc?.livemesh?.levels?.[0];
  if (first) {
    const base = dc.noBusG2g?.g2gMs;
    rows.push(['Capture-to-output, default chain, 1 stream, 2 s segments (p99)', base ? s(base.p99) : 'n/a', s(first.g2gMs.p99), base ? x(first.g2gMs.p99 / base.p99) : 'n/a', '<= 9 s', met(first.g2gMs.p99 <= 9000)]);
  }
  const s5 = r.scenarios.startup;
  if (s5) {
    const allWarm = s5.warm.allWarm === undefined ? '' : s5.warm.allWarm ? '' : ' (**a worker had to be started**)';
    rows.push(['Stream-start event -> first output, warm workers (median)', s(s5.baseline.firstOutputMs.median), s(s5.warm.firstOutputMs.median) + allWarm, x(s5.warm.firstOutputMs.median / s5.baseline.firstOutputMs.median), `<= ${s(s5.targetMs)} (segment + 1 s)`, met(s5.warm.firstOutputMs.median <= s5.targetMs && s5.warm.allWarm !== false)]);
  }
  const q = s2?.quality;
  if (q) {
    const rateGap = Math.abs(q.livemesh.videoKbps / q.oneFfmpeg.videoKbps - 1);
    const ok = q.differenceDb <= 0.5;
    // Equal PSNR says little when the rates differ: the Met? cell says so.
    rows.push([`Output quality vs one ffmpeg, PSNR (average of Y, U, V; ${s2.defaultVariant})`, `${f(q.oneFfmpeg.psnr.average, 2)} dB at ${f(q.oneFfmpeg.videoKbps, 0)} kb/s`, `${f(q.livemesh.psnr.average, 2)} dB at ${f(q.livemesh.videoKbps, 0)} kb/s`, `${q.differenceDb > 0 ? '-' : '+'}${f(Math.abs(q.differenceDb), 2)} dB`, 'within 0.5 dB at the same bit rate', `${met(ok)}${rateGap > 0.05 ? ` (video bit rates differ by ${f(rateGap * 100, 0)} %)` : ''}`]);
  }
  const mem = r.scenarios.memory;
  for (const m of memoryRuns(mem)) {
    rows.push([`Worker memory over ${m.segments} segments (${f(m.mediaMinutes, 0)} min of media), ${m.label === 'engine' ? `${m.chain}, worker + lm-engine` : m.label === 'passthrough' ? 'pass-through worker' : 'worker'}`, `${f(m.rssAfterWarmupMb)} MB after warm-up`, `${f(m.rssEndMb)} MB at the end; fitted growth ${f(m.fittedGrowthMb, 2)} MB`, pct(m.fittedGrowthPct / 100), 'flat (fitted growth <= 5 %)', met(m.flat)]);
  }
  return rows;
}

/** The memory runs, engine first; an older result had one run at the top level. */
function memoryRuns(mem) {
  if (!mem) return [];
  if (mem.segments !== undefined) return [mem];
  return [mem.engine, mem.passthrough].filter(Boolean);
}

export function renderMarkdown(r) {
  const m = r.machine;
  const out = [];
  out.push(`# livemesh benchmark${r.quick ? ' (BENCH_QUICK smoke run: sizes shrunk, figures not meaningful)' : ''}`);
  out.push('');
  out.push(`- Date: ${r.date}; run time ${f(r.totalSeconds, 0)} s`);
  out.push(`- Command: \`${r.command}\``);
  out.push(`- Machine: ${m.cpuModel}, ${m.cores} cores, ${m.memoryGiB} GiB; ${m.kernel}`);
  out.push(`- Software: node ${m.node}; ${m.ffmpeg}; ${m.natsServer}`);
  out.push(`- Load average (1/5/15 min) before: ${m.loadavgBefore.join(' / ')}; after: ${(m.loadavgAfter ?? []).join(' / ')}${busyNote(m)}`);
  if (r.media) out.push(`- Media: ${r.media.source}; ${r.media.segments} segments of 2 s, ${Math.round(r.media.segmentBytes.mean / 1024)} KiB mean`);
  out.push('');
  out.push('Medians over runs, with the range over runs in brackets where there were several. Each livemesh figure has its baseline from the same run beside it.');
  out.push('');
  out.push('## Targets');
  out.push('');
  out.push(table(['What', 'Baseline (same run)', 'livemesh', 'Ratio / added', 'Target', 'Met?'], targetRows(r)));

  const s1 = r.scenarios.hopOverhead;
  if (s1) {
    out.push('', `## 1. Per-hop overhead (${s1.hops} pass-through hops, one segment at a time)`, '');
    out.push(`Per hop = the segment's time from the publish onto hop 0 to its arrival (read, blob fetched) on lm.out, divided by ${s1.hops}; it includes ingest's publish and delivery's read, so it overstates a hop slightly. Baseline per hop = write the segment to a file and read it back. Added = livemesh's percentile minus the no-bus p50 (the no-bus tail on a busy machine is file-system noise, not credited to the bus). Payload: ${s1.payload}. CPU = nats-server + worker + publisher/collector, per segment per hop. Raw JetStream = one publish -> pull consumer hop in one process with no stage SDK (inline only).`);
    out.push('');
    out.push(table(
      ['Payload', 'Size', 'No bus p50 / p99', 'livemesh p50 / p99', 'Added p50 / p99', 'Raw JetStream hop p50 / p99', 'CPU per hop: no bus / livemesh'],
      s1.rows.map((q) => [
        q.mode,
        `${q.sizeMb} MB`,
        `${ms(q.baseline.p50, 2)} / ${ms(q.baseline.p99, 2)}`,
        `${ms(q.livemesh.p50, 2)}${spread(q.livemesh.p50PerRun, (v) => f(v, 1))} / ${ms(q.livemesh.p99, 2)}`,
        `${ms(q.added.p50, 2)} / ${ms(addedP99(q), 2)}`,
        q.rawJetStream ? `${ms(q.rawJetStream.p50, 2)} / ${ms(q.rawJetStream.p99, 2)}` : 'n/a',
        `${ms(q.baseline.cpuMsPerHop.median, 2)} / ${ms(q.livemesh.cpuMsPerHop.median, 2)}`,
      ]),
    ));
  }

  const s2 = r.scenarios.vsFfmpeg;
  if (s2?.variants) {
    out.push('', `## 2. Against one ffmpeg (${f(s2.mediaSeconds, 0)} s of 720p, default chain: watermark + transcode 480p)`, '');
    out.push(`Everything processes the same recording as fast as it can. livemesh: ${s2.workerSettings}; all segments published to hop 0 at once; four ways: fused into one hop as the orchestrator plans it, or \`fuse: false\` (a hop per stage), each on the warm engine (lm-engine, STAGE_ENGINE=warm) and on one ffmpeg per segment (STAGE_ENGINE=cli), and (since 2026-12-05) the default once more with two segments at once (STAGE_CONCURRENCY=2). CPU = all processes involved (ffmpeg or lm-engine, workers, nats-server, the publisher/collector), per minute of video; a worker's media CPU includes its live engines, not only its reaped ffmpeg runs.`);
    out.push('');
    const v = Object.entries(s2.variants);
    const hopsOf = (q) => `${q.hopsRun} (${(q.workers ?? []).map((w) => w.service.replace(/^worker:bench-s2-[^-]+-/, '')).join(', ')})`;
    out.push(table(['Run', 'Workers (hops run)', 'Engine', 'x realtime', 'CPU s per minute of video', 'Throughput vs one ffmpeg', 'vs per-segment, no bus'], [
      ['One ffmpeg, whole stream (drawtext + scale, one 480p encode)', 'n/a', 'ffmpeg', x(s2.oneFfmpeg.xRealtime.median) + spread(s2.oneFfmpeg.xRealtime, (q) => f(q, 2)), f(s2.oneFfmpeg.cpuSecPerMinute.median), '1.00x', 'n/a'],
      ['Per-segment ffmpeg, no bus (two stages pipelined, one ffmpeg per segment per stage)', 'n/a', 'ffmpeg per segment', x(s2.perSegment.xRealtime.median) + spread(s2.perSegment.xRealtime, (q) => f(q, 2)), f(s2.perSegment.cpuSecPerMinute.median), x(s2.perSegment.vsOneFfmpeg), '1.00x'],
      ...v.map(([key, q]) => [`livemesh, ${q.describe}${key === s2.defaultVariant ? ' (**Targets row**)' : ''}`, hopsOf(q), (q.workers ?? []).map((w) => w.engine).join(', '), x(q.xRealtime.median) + spread(q.xRealtime, (y) => f(y, 2)), f(q.cpuSecPerMinute.median), x(q.vsOneFfmpeg), x(q.vsPerSegment)]),
    ]));
    out.push('');
    out.push('Where the CPU went, CPU seconds per minute of video (medians over runs). Bus + orchestration = nats-server + the workers\' node processes + the harness\'s bus I/O (standing in for ingest and delivery), over all of it; media = the ffmpeg runs or lm-engines below the workers.');
    out.push('');
    out.push(table(['livemesh run', 'nats-server', 'Workers\' node', 'Media (ffmpeg or lm-engine)', 'Harness (publish + collect)', 'Total', 'Bus + orchestration share', 'Without the harness'], v.map(([, q]) => [
      q.describe, f(q.cpuSplitPerMinute.natsServer.median, 2), f(q.cpuSplitPerMinute.workersNode.median, 2), f(q.cpuSplitPerMinute.media.median, 2), f(q.cpuSplitPerMinute.harness.median, 2), f(q.cpuSecPerMinute.median, 1), pct(q.busShare.median), pct(q.busShareWithoutHarness.median),
    ])));
    const Q = s2.quality;
    if (Q) {
      out.push('');
      out.push(`Quality: PSNR (\`psnr\` filter) of each output against ${Q.reference}, over ${f(Q.seconds, 0)} s, frames paired by their time since the first frame; livemesh's output is its ${s2.defaultVariant} segments of the first run concatenated in seq order. Both aim at ${f(1200, 0)} kb/s; the video bit rate each reached (video packets only) is beside it. Difference = one ffmpeg minus livemesh.`);
      out.push('');
      out.push(table(['Output', 'PSNR average (Y, U, V)', 'PSNR Y', 'Worst frame (average)', 'Frames compared', 'Video kb/s'], [
        ['One ffmpeg, whole stream', Q.oneFfmpeg],
        [`livemesh, ${s2.variants[s2.defaultVariant]?.describe ?? s2.defaultVariant}`, Q.livemesh],
      ].map(([name, q]) => [name, `${f(q.psnr.average, 2)} dB`, `${f(q.psnr.y, 2)} dB`, `${f(q.psnr.min, 2)} dB`, String(q.psnr.compared), f(q.videoKbps, 0)])));
      out.push('', `Difference: ${f(Q.differenceDb, 2)} dB (average), ${f(Q.differenceYDb, 2)} dB (Y).`);
    }
  }

  const s3 = r.scenarios.density;
  if (s3) {
    out.push('', '## 3. Density (live streams at once, 2 s segments released every 2 s, capture-to-output bound 9 s)', '');
    out.push('Capture-to-output = arrival on lm.out minus the wall time the segment\'s first frame was captured (release time minus duration); a player\'s buffer comes on top. A level passes when every segment arrives, none exceeds the bound, and latency does not grow over the level.');
    const lvl = (L) => [
      String(L.streams),
      L.pass ? 'pass' : '**fail**',
      L.expected !== undefined ? `${L.delivered}/${L.expected}` : 'n/a',
      L.g2gMs ? `${s(L.g2gMs.p50)} / ${s(L.g2gMs.p99)} / ${s(L.g2gMs.max)}` : 'n/a',
      f(L.cpuCoresBusy, 2),
      L.reasons?.join('; ') || '',
    ];
    for (const [name, d] of [['Pass-through chain (2 hops)', s3.passthrough], ['Default chain as planned', s3.defaultChain], ['Default chain unfused, one ffmpeg per segment (the old default, for comparison)', s3.defaultChainUnfusedCli]]) {
      if (!d) continue;
      out.push('', `### ${name}: ${d.livemesh.maxStreams} stream(s) kept; ${d.livemesh.brokeAt ? `breaks at ${d.livemesh.brokeAt}` : 'did not break within the levels tried'} (${d.workers})`, '');
      out.push(table(['Streams', 'Result', 'Delivered', 'G2G p50 / p99 / max', 'CPU cores busy', 'Why it failed'], d.livemesh.levels.map(lvl)));
    }
    if (s3.passthrough?.baselineAtTop) {
      const b = s3.passthrough.baselineAtTop;
      out.push('', `Pass-through baseline with no bus (file write + read per hop) at ${b.streams} streams: ${b.pass ? 'pass' : 'fail'}, G2G p50 ${s(b.g2gMs.p50)}, max ${s(b.g2gMs.max)}.`);
    }
    const o = s3.defaultChain?.oneFfmpegPerStream;
    if (o) {
      out.push('', `Baseline, one ffmpeg per stream reading at 1x (-re), same filters: ${o.maxStreams} stream(s) kept${o.brokeAt ? `, breaks at ${o.brokeAt}` : ''}. livemesh / baseline: ${x(s3.defaultChain.livemesh.maxStreams / Math.max(o.maxStreams, 1))}.`);
      out.push('');
      out.push(table(['Streams', 'Result', 'Speed of the slowest', 'CPU cores busy'], o.levels.map((L) => [String(L.streams), L.pass ? 'pass' : '**fail**', x(L.speed), f(L.cpuCoresBusy, 2)])));
    }
    const nb = s3.defaultChain?.noBusG2g;
    if (nb) out.push('', `Baseline capture-to-output of one stream through ${nb.fused ? 'the fused hop\'s work as one ffmpeg per segment (both filters, one encode)' : 'the same per-segment ffmpeg work'} with no bus: p50 ${s(nb.g2gMs.p50)}, p99 ${s(nb.g2gMs.p99)}.`);
  }

  const s4 = r.scenarios.scaling;
  if (s4) {
    out.push('', `## 4. Scaling a stage (${s4.stage}; a backlog of ${s4.segments} segments, ${f(s4.mediaSeconds, 0)} s of media)`, '');
    out.push(table(['Replicas', 'No bus (same ffmpeg runs, N at a time)', 'livemesh', 'Ratio', 'Max lag (segments)', 'Mean lag'], s4.rows.map((q) => [
      String(q.replicas), `${x(q.baseline.xRealtime)} realtime`, `${x(q.livemesh.xRealtime)} realtime`, x(q.livemesh.xRealtime / q.baseline.xRealtime), String(q.livemesh.maxLag), f(q.livemesh.meanLag, 1),
    ])));
  }

  const s5 = r.scenarios.startup;
  if (s5) {
    out.push('', `## 5. Start-up (${s5.chain})`, '');
    out.push(`From the stream-start event on lm.evt.platform.stream.started to the first segment on lm.out. The first segment (${f(s5.segmentSeconds, 2)} s) is released ${f(s5.segmentSeconds, 2)} s after the event, as a publisher starting with the event would deliver it. Target: ${s(s5.targetMs)}.`);
    out.push('');
    out.push(table(['Case', 'Event -> chain-ready', 'Event -> first output', 'Runs'], [
      [s5.baselineTwoRuns ? 'No bus: wait for the segment, then the fused hop\'s work as one ffmpeg run (**Targets baseline**)' : 'No bus: wait for the segment, then the same two ffmpeg runs', 'n/a', s(s5.baseline.firstOutputMs.median) + spread(s5.baseline.firstOutputMs, (v) => f(v / 1000, 2)), String(s5.baseline.firstOutputMs.n)],
      ...(s5.baselineTwoRuns ? [['No bus: wait for the segment, then the two stages\' ffmpeg runs (unfused)', 'n/a', s(s5.baselineTwoRuns.firstOutputMs.median) + spread(s5.baselineTwoRuns.firstOutputMs, (v) => f(v / 1000, 2)), String(s5.baselineTwoRuns.firstOutputMs.n)]] : []),
      ['livemesh, warm workers', s(s5.warm.chainReadyMs.median, 3), s(s5.warm.firstOutputMs.median) + spread(s5.warm.firstOutputMs, (v) => f(v / 1000, 2)), String(s5.warm.firstOutputMs.n)],
      ['livemesh, cold (orchestrator starts the workers)', s(s5.cold.chainReadyMs.median, 3), s(s5.cold.firstOutputMs.median) + spread(s5.cold.firstOutputMs, (v) => f(v / 1000, 2)), String(s5.cold.firstOutputMs.n)],
    ]));
    const hops = s5.warm.raw?.[0]?.hops ?? s5.cold.raw?.[0]?.hops;
    if (hops) {
      const wb = s5.warm.workersBefore ?? [];
      out.push('', `The planned chain: ${hops.map((h) => `${h.service}${h.fusedThrough !== undefined ? ` (runs hops through ${h.fusedThrough})` : h.fusedInto !== undefined ? ` (fused into hop ${h.fusedInto})` : ''}`).join(' -> ')}. Cold starts started: ${s5.coldStarted?.join(', ') || 'nothing'}. Before each warm start ran: ${wb.map((w) => `${w.service} (${w.engines} lm-engine process${w.engines === 1 ? '' : 'es'})`).join(', ') || 'no worker'}; every warm start found all the workers its chain needed and started none: ${s5.warm.allWarm ? 'yes' : '**no**'}.`);
    }
  }

  const mems = memoryRuns(r.scenarios.memory);
  if (mems.length) {
    out.push('', `## Worker memory (${mems[0].segments} segments = ${f(mems[0].mediaMinutes, 0)} min of 2 s segments through one worker, as fast as it takes them)`, '');
    for (const m of mems) {
      if (m.label === 'engine') {
        out.push(`- **${m.chain}, warm engine** (${m.engine}), on ${m.clip ? `a generated ${m.clip.source.replace(/, \d+ s, MPEG-TS$/, '')} clip cut into ${m.clip.segments} segments of ${Math.round(m.clip.segmentBytes.mean / 1024)} KiB` : 'small segments'}, in ${f(m.wallSec, 0)} s: VmRSS of the worker plus its lm-engine process(es) ${f(m.rssAfterWarmupMb)} MB after ${m.warmupSegments} segments, ${f(m.rssEndMb)} MB at the end (the worker alone ${f(m.workerRssEndMb)} MB), ${f(m.rssMaxMb)} MB at most; fitted slope ${f(m.slopeKbPer100Segments)} KiB per 100 segments (${f(m.fittedGrowthMb, 2)} MB, ${f(m.fittedGrowthPct, 1)} % over the run). The engine is replaced after ${m.recycleAfter ?? 500} segments (ENGINE_RECYCLE_SEGMENTS)${m.segments > (m.recycleAfter ?? 500) ? `, so this run saw ${m.engineProcesses} engine processes: the fitted line spans the replacement, whose fresh engine starts small` : `: not reached in this run (${m.engineProcesses} engine process)`}.`);
      } else {
        out.push(`- **Pass-through worker** on the ${Math.round(r.media?.segmentBytes?.mean / 1024)} KiB 720p segments, in ${f(m.wallSec, 0)} s: VmRSS ${f(m.rssAfterWarmupMb)} MB after ${m.warmupSegments} segments, ${f(m.rssEndMb)} MB at the end, ${f(m.rssMaxMb)} MB at most; fitted slope ${f(m.slopeKbPer100Segments)} KiB per 100 segments (${f(m.fittedGrowthMb, 2)} MB, ${f(m.fittedGrowthPct, 1)} % over the run).`);
      }
    }
    out.push('', 'This compresses 30 minutes of segments into minutes: a leak per segment shows, a leak per unit of wall time (timers, heartbeats) would not.');
  }

  const wm = r.scenarios.warm;
  if (wm) {
    out.push('', `## Warm ffmpeg and lm-engine vs one ffmpeg per segment (${wm.segments} segments = ${f(wm.mediaSeconds, 0)} s of 720p back to back, ${wm.runs} run(s); latency and PSNR on the first ${wm.latencySegments})`, '');
    out.push('Per segment = one ffmpeg per segment, one after the other, run as a worker runs it (what the stage SDK does). Warm = one long-running ffmpeg with the same output options reading every segment on stdin (transcode: plus a forced key frame at each segment\'s first frame). CPU = the ffmpeg processes\' CPU seconds per second of media; x realtime = media seconds / wall seconds. Ratios are per segment over warm.');
    out.push('');
    const hasEngine = Object.values(wm.cost).some((c) => c.engine);
    out.push(table(['Stage', 'Per segment: CPU s / media s', 'Warm ffmpeg: CPU s / media s', ...(hasEngine ? ['lm-engine: CPU s / media s'] : []), 'CPU, per segment / warm ffmpeg', ...(hasEngine ? ['CPU, per segment / lm-engine'] : []), 'Per segment: x realtime', 'Warm ffmpeg: x realtime', ...(hasEngine ? ['lm-engine: x realtime'] : []), 'Wall, per segment / warm ffmpeg', ...(hasEngine ? ['Wall, per segment / lm-engine'] : [])], Object.entries(wm.cost).map(([kind, c]) => [
      `${kind} (${c.stage})`,
      f(c.perSegment.cpuSecPerMediaSec.median, 3) + spread(c.perSegment.cpuSecPerMediaSec, (v) => f(v, 3)),
      f(c.warm.cpuSecPerMediaSec.median, 3) + spread(c.warm.cpuSecPerMediaSec, (v) => f(v, 3)),
      ...(hasEngine ? [c.engine ? f(c.engine.cpuSecPerMediaSec.median, 3) + spread(c.engine.cpuSecPerMediaSec, (v) => f(v, 3)) : 'n/a (audio copy only)'] : []),
      x(c.ratios.cpu),
      ...(hasEngine ? [x(c.ratios.cpuVsEngine)] : []),
      x(c.perSegment.xRealtime.median) + spread(c.perSegment.xRealtime, (v) => f(v, 2)),
      x(c.warm.xRealtime.median) + spread(c.warm.xRealtime, (v) => f(v, 2)),
      ...(hasEngine ? [c.engine ? x(c.engine.xRealtime.median) + spread(c.engine.xRealtime, (v) => f(v, 2)) : 'n/a'] : []),
      x(c.ratios.wall),
      ...(hasEngine ? [x(c.ratios.wallVsEngine)] : []),
    ])));
    if (hasEngine) out.push('', 'lm-engine = the warm media engine the workers now use (libs/media WarmEngine: one long-lived libav process, one request per segment, the whole output segment in each response), fed the same segments back to back; its CPU and wall include its start.');
    const L = wm.latency;
    out.push('');
    out.push(`Latency: the warm ffmpeg gets one segment at a time, each followed by a wait until it has been quiet (no output, no CPU) for ${f(wm.quietMs, 0)} ms (at most ${s(wm.boundMs, 0)}; ${['warmVeryfast', 'warmZerolatency', 'warmAudio'].map((k) => L[k]?.boundHits ?? 0).reduce((a, b) => a + b, 0)} wait(s) hit that bound). Held back = a segment's video frames not yet out when the next segment is written, over the ${L.warmVeryfast?.held.n ?? 0} segments after stream start-up. At a live pace = when its last frame would be out had each segment come one segment duration after the one before: held-back frames come out only after the next segment arrives. Per segment, the whole output is there when the run ends (its run time); for the lm-engine, when the response to its request is read (the request's time, after its first segment, which also starts the process). Start-up = segments written before the first frame came out (input probing), and that first frame at a live pace.`);
    out.push('');
    const latRow = (name, q, perSegment) => [
      name,
      perSegment ? '0 (whole segment at exit)' : `${f(q.held.median, 0)} / ${f(q.held.max, 0)} of ${f(q.framesPerSegment.median, 0)}`,
      `${s(q.liveMs.median)} / ${s(q.liveMs.max)}`,
      perSegment ? 'n/a' : `${s(q.afterNextMs.median)} / ${s(q.afterNextMs.max)}`,
      perSegment ? 'n/a' : `${q.startup.segmentsBeforeFirstOutput}; ${s(q.startup.firstOutputLiveMs)}`,
      `${q.keyFramesAtSegmentStarts} of ${q.segments}`,
      perSegment ? 'n/a' : f(q.cpuSecPerMediaSec, 3),
    ];
    const latRows = [];
    if (L.perSegment) latRows.push(latRow('transcode, one ffmpeg per segment', L.perSegment, true));
    if (L.warmVeryfast) latRows.push(latRow(L.warmVeryfast.describe, L.warmVeryfast));
    if (L.warmZerolatency) latRows.push(latRow(L.warmZerolatency.describe, L.warmZerolatency));
    if (L.engine) {
      latRows.push([
        L.engine.describe,
        '0 (whole segment per response)',
        `${s(L.engine.liveMs.median)} / ${s(L.engine.liveMs.max)}`,
        'n/a',
        `0; first segment (with the engine's start) ${s(L.engine.startup.firstSegmentMs.median)}`,
        `${L.engine.keyFramesAtSegmentStarts} of ${L.engine.segments}`,
        'n/a',
      ]);
    }
    if (L.perSegmentAudio) latRows.push(latRow('audio, one ffmpeg per segment', L.perSegmentAudio, true));
    if (L.warmAudio) latRows.push(latRow(L.warmAudio.describe, L.warmAudio));
    out.push(table(['Run', 'Video frames held back (median / max)', 'Segment in -> last frame out, live pace (median / max)', 'Next segment in -> last frame out (median / max)', 'Start-up: segments in before the first frame out; first frame, live pace', 'Key frame at segment start', 'CPU s / media s (paced)'], latRows));
    const Q = wm.quality;
    if (Q) {
      out.push('');
      out.push(`Quality: PSNR of each transcode output (${f(wm.latencyMediaSeconds, 0)} s) against the source scaled to the same size by the same filter, frames paired by timestamp. All aim at the same ${f(wm.settings?.transcode?.videoBitrateKbps, 0)} kb/s video rate; the kb/s each reached is shown beside, as a rate undershoot lowers PSNR too.`);
      out.push('');
      out.push(table(['Transcode output', 'PSNR Y', 'PSNR average (Y, U, V)', 'Worst frame (average)', 'Frames compared', 'Output kb/s (video + copied audio + TS)'], [
        ['one ffmpeg per segment, veryfast', Q.perSegment],
        ['warm, veryfast', Q.warmVeryfast],
        ['warm, veryfast -tune zerolatency', Q.warmZerolatency],
        ['lm-engine, veryfast', Q.engine],
      ].filter(([, q]) => q).map(([name, q]) => [name, `${f(q.psnr.y, 2)} dB`, `${f(q.psnr.average, 2)} dB`, `${f(q.psnr.min, 2)} dB`, `${q.psnr.compared} of ${q.frames}`, f(q.kbps, 0)])));
    }
  }

  const e2p = r.scenarios.encoderToPlayer;
  if (e2p) {
    out.push('', `## Encoder to player (the whole mesh: RTMP into ingest, the chain, delivery, a player reading HLS; ${f(e2p.publishSeconds, 0)} s published per chain)`, '');
    out.push(`Encoder-to-player = the wall clock when the player presents a frame minus the wall clock the publisher burnt into that frame when it handed it to the encoder (black and white blocks, read back from every decoded frame). The player starts ${e2p.playerStartsSegmentsBehind} segments of ${e2p.segmentSeconds} s behind the live edge, as hls.js does, so its buffer is in the figure. Ingest-to-playlist is the stream's own \`latency.ingestToPlaylistMs\` from the API in the same run: from ingest's cut to the segment's listing, without the encoder, the RTMP leg, the segment's own duration or the player.`);
    out.push('');
    out.push(table(['Chain', 'Encoder-to-player p50', 'p95', 'min / max', 'Frames read (unreadable)', 'Ingest-to-playlist p50 (same stream)'], [
      ['Default', e2p.defaultChain],
      ['Pass-through', e2p.passthrough],
    ].filter(([, c]) => c).map(([name, c]) => [`${name}: ${c.chain}`, s(c.encoderToPlayerMs.p50), s(c.encoderToPlayerMs.p95), `${s(c.encoderToPlayerMs.min)} / ${s(c.encoderToPlayerMs.max)}`, `${c.framesRead} (${c.framesUnreadable})`, c.ingestToPlaylistMs ? s(c.ingestToPlaylistMs.p50) : 'n/a'])));
  }

  const errs = Object.entries(r.errors ?? {});
  if (errs.length) {
    out.push('', '## Scenarios that failed to run', '');
    for (const [k, e] of errs) out.push(`- ${k}: ${String(e).split('\n')[0]}`);
  }
  out.push('');
  return out.join('\n');
}

/** Whether other work was taking CPU when the run began (measured over 3 s, not the lagging load average). */
function busyNote(m) {
  if (m.cpuBusyBefore === undefined) return m.loadavgBefore[0] > m.cores * 0.5 ? ' (**the machine may have been busy with other work: figures may be pessimistic**)' : '';
  const pct = (m.cpuBusyBefore * 100).toFixed(0);
  return m.cpuBusyBefore > 0.2
    ? `; ${pct} % of CPU busy with other work just before (**figures are pessimistic**)`
    : `; ${pct} % of CPU busy just before the run (an idle machine; the load average lags)`;
}
