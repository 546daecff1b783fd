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

export function targetRows(r) {
  const rows = [];
  const s2 = r.scenarios.vsFfmpeg;
  if (s2) {
    const ratio = s2.ratios.vsOneFfmpeg;
    rows.push(['Default chain throughput vs one ffmpeg (same filters)', `${x(s2.oneFfmpeg.xRealtime.median)} realtime`, `${x(s2.livemesh.xRealtime.median)} realtime`, x(ratio), '>= 0.90x (stretch 0.95x)', met(ratio >= 0.9)]);
    rows.push(['Bus + orchestration CPU share (server, workers\' node, harness bus I/O)', 'n/a (no bus)', pct(s2.livemesh.busShare.median), '', '<= 2 %', met(s2.livemesh.busShare.median <= 0.02)]);
  }
  const s1 = r.scenarios.hopOverhead;
  if (s1) {
    for (const row of s1.rows.filter((q) => q.sizeMb === 1)) {
      rows.push([`Added latency per hop, 1 MB, ${row.mode}, p50`, ms(row.baseline.p50, 2), ms(row.livemesh.p50, 2), `+${ms(row.added.p50, 2)}`, '<= 3 ms added', met(row.added.p50 <= 3)]);
      rows.push([`Added latency per hop, 1 MB, ${row.mode}, p99`, `${ms(row.baseline.p50, 2)} (p50)`, ms(row.livemesh.p99, 2), `+${ms(addedP99(row), 2)}`, '<= 10 ms added', met(addedP99(row) <= 10)]);
    }
  }
  const s3 = r.scenarios.density;
  const first = s3?.defaultChain?.livemesh?.levels?.[0];
  if (first) {
    const base = s3.defaultChain.noBusG2g?.g2gMs;
    rows.push(['Glass-to-glass, default chain, 1 stream, 2 s segments (p99)', base ? s(base.p99) : 'n/a', s(first.g2gMs.p99), base ? x(first.g2gMs.p99 / base.p99) : 'n/a', '<= 9 s', met(first.g2gMs.p99 <= 9000)]);
  }
  const s5 = r.scenarios.startup;
  if (s5) {
    rows.push(['Stream-start event -> first output, warm workers (median)', s(s5.baseline.firstOutputMs.median), s(s5.warm.firstOutputMs.median), x(s5.warm.firstOutputMs.median / s5.baseline.firstOutputMs.median), `<= ${s(s5.targetMs)} (segment + 1 s)`, met(s5.warm.firstOutputMs.median <= s5.targetMs)]);
  }
  const mem = r.scenarios.memory;
  if (mem) {
    rows.push([`Worker memory over ${mem.segments} segments (${f(mem.mediaMinutes, 0)} min of media)`, `${f(mem.rssAfterWarmupMb)} MB after warm-up`, `${f(mem.rssEndMb)} MB at the end; fitted growth ${f(mem.fittedGrowthMb, 2)} MB`, pct(mem.fittedGrowthPct / 100), 'flat (fitted growth <= 5 %)', met(mem.flat)]);
  }
  return rows;
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
  if (s2) {
    out.push('', `## 2. Against one ffmpeg (${f(s2.mediaSeconds, 0)} s of 720p, default chain: watermark + transcode 480p)`, '');
    out.push(`Everything processes the same recording as fast as it can. livemesh: ${s2.workerSettings}; all segments published to hop 0 at once. CPU = all processes involved (ffmpeg, workers, nats-server, the publisher/collector), per minute of video.`);
    out.push('');
    out.push(table(['Run', 'x realtime', 'CPU s per minute of video', 'Throughput vs one ffmpeg'], [
      ['One ffmpeg, whole stream (drawtext + scale, one 480p encode)', x(s2.oneFfmpeg.xRealtime.median) + spread(s2.oneFfmpeg.xRealtime, (v) => f(v, 2)), f(s2.oneFfmpeg.cpuSecPerMinute.median), '1.00x'],
      ['Per-segment ffmpeg, no bus (two stages pipelined, one ffmpeg per segment per stage)', x(s2.perSegment.xRealtime.median) + spread(s2.perSegment.xRealtime, (v) => f(v, 2)), f(s2.perSegment.cpuSecPerMinute.median), x(s2.ratios.perSegmentVsOneFfmpeg)],
      ['livemesh default chain', x(s2.livemesh.xRealtime.median) + spread(s2.livemesh.xRealtime, (v) => f(v, 2)), f(s2.livemesh.cpuSecPerMinute.median), x(s2.ratios.vsOneFfmpeg)],
    ]));
    out.push('');
    out.push(`livemesh vs the same per-segment work with no bus: ${x(s2.ratios.vsPerSegment)} (the bus's own cost); per-segment vs one ffmpeg: ${x(s2.ratios.perSegmentVsOneFfmpeg)} (the cost of cutting into segments and encoding twice). Bus + orchestration share of all CPU: ${pct(s2.livemesh.busShare.median)} with the harness's bus I/O, ${pct(s2.livemesh.busShareWithoutHarness.median)} for nats-server + workers' node alone.`);
  }

  const s3 = r.scenarios.density;
  if (s3) {
    out.push('', '## 3. Density (live streams at once, 2 s segments released every 2 s, glass-to-glass bound 9 s)', '');
    out.push('Glass-to-glass = arrival on lm.out minus the wall time the segment\'s first frame was captured (release time minus duration); a player\'s buffer comes on top. A level passes when every segment arrives, none exceeds the bound, and latency does not grow over the level.');
    const lvl = (L) => [
      String(L.streams),
      L.pass ? 'pass' : '**fail**',
      L.expected !== undefined ? `${L.delivered}/${L.expected}` : 'n/a',
      L.g2gMs ? `${s(L.g2gMs.p50)} / ${s(L.g2gMs.p99)} / ${s(L.g2gMs.max)}` : 'n/a',
      f(L.cpuCoresBusy, 2),
      L.reasons?.join('; ') || '',
    ];
    for (const [name, d] of [['Pass-through chain (2 hops)', s3.passthrough], ['Default chain', s3.defaultChain]]) {
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
    if (nb) out.push('', `Baseline glass-to-glass of one stream through the same per-segment ffmpeg work with no bus: p50 ${s(nb.g2gMs.p50)}, p99 ${s(nb.g2gMs.p99)}.`);
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
      ['No bus: wait for the segment, then the same two ffmpeg runs', 'n/a', s(s5.baseline.firstOutputMs.median) + spread(s5.baseline.firstOutputMs, (v) => f(v / 1000, 2)), String(s5.baseline.firstOutputMs.n)],
      ['livemesh, warm workers', s(s5.warm.chainReadyMs.median, 3), s(s5.warm.firstOutputMs.median) + spread(s5.warm.firstOutputMs, (v) => f(v / 1000, 2)), String(s5.warm.firstOutputMs.n)],
      ['livemesh, cold (orchestrator starts the workers)', s(s5.cold.chainReadyMs.median, 3), s(s5.cold.firstOutputMs.median) + spread(s5.cold.firstOutputMs, (v) => f(v / 1000, 2)), String(s5.cold.firstOutputMs.n)],
    ]));
  }

  const mem = r.scenarios.memory;
  if (mem) {
    out.push('', `## Worker memory (${mem.segments} segments = ${f(mem.mediaMinutes, 0)} min of 2 s segments through a pass-through worker in ${f(mem.wallSec, 0)} s)`, '');
    out.push(`VmRSS of the worker process: ${f(mem.rssAfterWarmupMb)} MB after ${mem.warmupSegments} segments, ${f(mem.rssEndMb)} MB at the end, ${f(mem.rssMaxMb)} MB at most; fitted slope ${f(mem.slopeKbPer100Segments)} KiB per 100 segments (${f(mem.fittedGrowthMb, 2)} MB, ${f(mem.fittedGrowthPct, 1)} % over the run). This compresses 30 minutes of segments into seconds: a leak per segment shows, a leak per unit of wall time (timers, heartbeats) would not.`);
  }

  const wm = r.scenarios.warm;
  if (wm) {
    out.push('', `## Warm ffmpeg vs one ffmpeg per segment (${wm.segments} segments = ${f(wm.mediaSeconds, 0)} s of 720p back to back, ${wm.runs} run(s); latency and PSNR on the first ${wm.latencySegments})`, '');
    out.push('Per segment = one ffmpeg per segment, one after the other, run as a worker runs it (what the stage SDK does). Warm = one long-running ffmpeg with the same output options reading every segment on stdin (transcode: plus a forced key frame at each segment\'s first frame). CPU = the ffmpeg processes\' CPU seconds per second of media; x realtime = media seconds / wall seconds. Ratios are per segment over warm.');
    out.push('');
    out.push(table(['Stage', 'Per segment: CPU s / media s', 'Warm: CPU s / media s', 'CPU, per segment / warm', 'Per segment: x realtime', 'Warm: x realtime', 'Wall, per segment / warm'], Object.entries(wm.cost).map(([kind, c]) => [
      `${kind} (${c.stage})`,
      f(c.perSegment.cpuSecPerMediaSec.median, 3) + spread(c.perSegment.cpuSecPerMediaSec, (v) => f(v, 3)),
      f(c.warm.cpuSecPerMediaSec.median, 3) + spread(c.warm.cpuSecPerMediaSec, (v) => f(v, 3)),
      x(c.ratios.cpu),
      x(c.perSegment.xRealtime.median) + spread(c.perSegment.xRealtime, (v) => f(v, 2)),
      x(c.warm.xRealtime.median) + spread(c.warm.xRealtime, (v) => f(v, 2)),
      x(c.ratios.wall),
    ])));
    const L = wm.latency;
    out.push('');
    out.push(`Latency: the warm ffmpeg gets one segment at a time, each followed by a wait until it has been quiet (no output, no CPU) for ${f(wm.quietMs, 0)} ms (at most ${s(wm.boundMs, 0)}; ${['warmVeryfast', 'warmZerolatency', 'warmAudio'].map((k) => L[k]?.boundHits ?? 0).reduce((a, b) => a + b, 0)} wait(s) hit that bound). Held back = a segment's video frames not yet out when the next segment is written, over the ${L.warmVeryfast?.held.n ?? 0} segments after stream start-up. At a live pace = when its last frame would be out had each segment come one segment duration after the one before: held-back frames come out only after the next segment arrives. Per segment, the whole output is there when the run ends (its run time). Start-up = segments written before the first frame came out (input probing), and that first frame at a live pace.`);
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
    if (L.perSegmentAudio) latRows.push(latRow('audio, one ffmpeg per segment', L.perSegmentAudio, true));
    if (L.warmAudio) latRows.push(latRow(L.warmAudio.describe, L.warmAudio));
    out.push(table(['Run', 'Video frames held back (median / max)', 'Segment in -> last frame out, live pace (median / max)', 'Next segment in -> last frame out (median / max)', 'Start-up: segments in before the first frame out; first frame, live pace', 'Key frame at segment start', 'CPU s / media s (paced)'], latRows));
    const Q = wm.quality;
    if (Q) {
      out.push('');
      out.push(`Quality: PSNR of each transcode output (${f(wm.latencyMediaSeconds, 0)} s) against the source scaled to the same size by the same filter, frames paired by timestamp. All three aim at the same ${f(wm.settings?.transcode?.videoBitrateKbps, 0)} kb/s video rate; the kb/s each reached is shown beside, as a rate undershoot lowers PSNR too.`);
      out.push('');
      out.push(table(['Transcode output', 'PSNR Y', 'PSNR average (Y, U, V)', 'Worst frame (average)', 'Frames compared', 'Output kb/s (video + copied audio + TS)'], [
        ['one ffmpeg per segment, veryfast', Q.perSegment],
        ['warm, veryfast', Q.warmVeryfast],
        ['warm, veryfast -tune zerolatency', Q.warmZerolatency],
      ].filter(([, q]) => q).map(([name, q]) => [name, `${f(q.psnr.y, 2)} dB`, `${f(q.psnr.average, 2)} dB`, `${f(q.psnr.min, 2)} dB`, `${q.psnr.compared} of ${q.frames}`, f(q.kbps, 0)])));
    }
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
