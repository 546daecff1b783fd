// Scenario "warm": one ffmpeg per segment (what the stage SDK does) against one long-running ("warm")
// ffmpeg with the same output options reading the stream's segments on stdin, for two stage kinds:
// transcode (scale to 854x480, x264 veryfast 1200 kb/s, audio copied) and audio (video copied, AAC
// 128 kb/s through a volume filter). Three parts:
// 1. Cost: CPU seconds per media second and x realtime, each way, segments back to back.
// 2. Latency of warm: segments written one at a time, each followed by a wait until ffmpeg has gone
//    quiet (no output and no CPU for `quietMs`, or `boundMs`). A warm ffmpeg holds the end of a
//    segment until the next one arrives (the TS demuxer ends a video PES only when the next starts,
//    the H.264 parser needs the next start code, the muxer interleaves against audio, x264 keeps
//    lookahead and frame-thread delay): counted as the segment's video frames not yet out when the
//    next segment is written, for x264 veryfast as the services use it, with -tune zerolatency, and
//    for the audio stage (its copied video).
// 3. Quality of zerolatency: PSNR against the source scaled to 854x480 the same way, for per-segment
//    veryfast, warm veryfast and warm zerolatency, on the segments of part 2.
// Beside them, for transcode, the warm media engine the workers now use (lm-engine through
// libs/media's WarmEngine, one request per segment): its cost (1), its time from writing a
// segment to having the segment's whole output (2; nothing is held back, a response is a whole
// segment) and its PSNR (3).
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WarmEngine, scaleFilter, segmentStageArgs } from '@livemesh/media';
import { volumeRamp } from '@livemesh/services';
import { cpuOf, selfCpu, sleep } from '../lib/proc.mjs';
import { summary } from '../lib/stats.mjs';
import { psnr } from '../lib/quality.mjs';
import { runStageFfmpeg, TRANSCODE, transcodeArgs, transcodeTransform } from '../lib/work.mjs';

/** The audio stage's parameters here: a fixed gain (normalize off), so one filter serves the whole stream. */
const AUDIO = { bitrateKbps: 128, volumeDb: -3 };

/** The audio stage's ffmpeg arguments (libs/services audio.service.ts with normalize off). */
function audioArgs() {
  const g = 10 ** (AUDIO.volumeDb / 20);
  // As the service does: drop the fresh AAC encoder's priming packet (once per process).
  return segmentStageArgs({ video: 'copy', audio: { codec: 'aac', bitrateKbps: AUDIO.bitrateKbps }, audioFilter: volumeRamp(g, g, 0, 2), keepAudioPackets: { from: 1 } });
}

/** Output options inserted before the muxer's `-f`. */
function withOutputOptions(args, extra) {
  const out = [...args];
  out.splice(out.lastIndexOf('-f'), 0, ...extra);
  return out;
}

/**
 * A warm transcode: the same arguments plus a forced key frame at the first frame of every segment
 * (a fresh per-segment encoder opens each segment with an IDR; a warm one must be told to, or its
 * output could not be cut at the segment boundaries again). By frame number, not time: the count
 * is exact whatever the timestamps at a join look like (the segmenter once stepped the timeline
 * back after the first segment, which put a key frame by time on the wrong frame).
 */
function warmTranscodeArgs(segments, { zerolatency = false } = {}) {
  let n = 0;
  const firsts = segments.map((s) => {
    const first = n;
    n += videoFramesOf(s.data).length;
    return `eq(n,${first})`;
  });
  return withOutputOptions(transcodeArgs(), ['-force_key_frames', `expr:${firsts.join('+')}`, ...(zerolatency ? ['-tune', 'zerolatency'] : [])]);
}

const STAGES = {
  transcode: { perSegment: () => transcodeArgs(), warm: (segs) => warmTranscodeArgs(segs), engine: () => transcodeTransform(), describe: `scale to ${TRANSCODE.width}x${TRANSCODE.height}, x264 ${TRANSCODE.preset} ${TRANSCODE.videoBitrateKbps} kb/s, audio copied` },
  audio: { perSegment: () => audioArgs(), warm: () => audioArgs(), describe: `video copied, volume filter at ${AUDIO.volumeDb} dB, AAC ${AUDIO.bitrateKbps} kb/s` },
};

// ---------------------------------------------------------------------------------------------
// A small MPEG-TS reader: 188-byte packets; the video PID from the PMT; one frame per video PES
// (payload_unit_start_indicator), its PTS from the PES header and whether the packet carries the
// random-access flag (the muxer sets it on key frames).

const VIDEO_STREAM_TYPES = new Set([0x01, 0x02, 0x10, 0x1b, 0x24, 0x42, 0xea]);

export class TsVideoFrames {
  constructor(onFrame) {
    this.onFrame = onFrame;
    this.rest = Buffer.alloc(0);
    this.pmtPid = undefined;
    this.videoPid = undefined;
    this.frames = 0;
  }

  push(chunk) {
    let buf = this.rest.length ? Buffer.concat([this.rest, chunk]) : chunk;
    let i = 0;
    while (buf.length - i >= 188) {
      if (buf[i] !== 0x47) {
        i++; // lost sync: look for the next sync byte
        continue;
      }
      this.packet(buf.subarray(i, i + 188));
      i += 188;
    }
    this.rest = Buffer.from(buf.subarray(i));
    buf = undefined;
  }

  packet(p) {
    const pid = ((p[1] & 0x1f) << 8) | p[2];
    const pusi = (p[1] & 0x40) !== 0;
    const afc = (p[3] >> 4) & 3;
    if (!(afc & 1)) return; // no payload
    let off = 4;
    let rai = false;
    if (afc & 2) {
      const afl = p[4];
      if (afl > 0) rai = (p[5] & 0x40) !== 0;
      off += 1 + afl;
    }
    if (off >= 188 || !pusi) return;
    const payload = p.subarray(off);
    if (pid === 0) return this.pat(payload);
    if (pid === this.pmtPid) return this.pmt(payload);
    if (pid !== this.videoPid) return;
    if (payload.length < 14 || payload[0] !== 0 || payload[1] !== 0 || payload[2] !== 1) return;
    let pts;
    if (payload[7] & 0x80) pts = (payload[9] >> 1 & 7) * 2 ** 30 + ((payload[10] << 7) | (payload[11] >> 1)) * 2 ** 15 + ((payload[12] << 7) | (payload[13] >> 1));
    this.frames++;
    this.onFrame?.({ pts, key: rai });
  }

  /** A PSI section that starts in this packet (sections of ffmpeg's muxer fit one packet). */
  section(payload) {
    const s = payload.subarray(1 + payload[0]);
    if (s.length < 12) return undefined;
    const len = ((s[1] & 0x0f) << 8) | s[2];
    return { s, end: Math.min(s.length, 3 + len - 4) };
  }

  pat(payload) {
    const sec = this.section(payload);
    if (!sec || sec.s[0] !== 0x00) return;
    for (let j = 8; j + 4 <= sec.end; j += 4) {
      const program = (sec.s[j] << 8) | sec.s[j + 1];
      if (program !== 0) {
        this.pmtPid = ((sec.s[j + 2] & 0x1f) << 8) | sec.s[j + 3];
        return;
      }
    }
  }

  pmt(payload) {
    const sec = this.section(payload);
    if (!sec || sec.s[0] !== 0x02 || this.videoPid !== undefined) return;
    const { s, end } = sec;
    for (let j = 12 + (((s[10] & 0x0f) << 8) | s[11]); j + 5 <= end; j += 5 + (((s[j + 3] & 0x0f) << 8) | s[j + 4])) {
      if (VIDEO_STREAM_TYPES.has(s[j])) {
        this.videoPid = ((s[j + 1] & 0x1f) << 8) | s[j + 2];
        return;
      }
    }
  }
}

/** The video frames of a whole TS buffer: [{pts, key}]. */
export function videoFramesOf(data) {
  const frames = [];
  new TsVideoFrames((f) => frames.push(f)).push(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
  return frames;
}

// ---------------------------------------------------------------------------------------------

const cpuPerMediaSec = (cpuSec, mediaSec) => cpuSec / mediaSec;

/** One ffmpeg per segment, one after the other, run as a worker runs it. */
async function perSegment(args, segments) {
  const c0 = selfCpu();
  const t0 = performance.now();
  const outputs = [];
  const runMs = [];
  for (const s of segments) {
    const r0 = performance.now();
    outputs.push(await runStageFfmpeg(args, s.data));
    runMs.push(performance.now() - r0);
  }
  const wallMs = performance.now() - t0;
  return { wallMs, cpuSec: selfCpu().children - c0.children, runMs, outputs };
}

/**
 * The warm media engine: one lm-engine (WarmEngine, as a worker's EnginePool slot holds it), one
 * request per segment, back to back. CPU = the engine process's, read once it has exited and been
 * reaped (nothing else this process started ends meanwhile); wall (to the last output) and CPU
 * include its start.
 */
async function engineAll(transform, segments) {
  const c0 = selfCpu();
  const t0 = performance.now();
  const engine = new WarmEngine({ recycleAfter: segments.length + 1 });
  const outputs = [];
  const runMs = [];
  let wallMs;
  try {
    for (const s of segments) {
      const r0 = performance.now();
      outputs.push(await engine.transform(s.data, transform, { timeoutMs: 120_000 }));
      runMs.push(performance.now() - r0);
    }
    wallMs = performance.now() - t0;
  } finally {
    await engine.close();
  }
  return { wallMs, cpuSec: selfCpu().children - c0.children, runMs, outputs };
}

/** One ffmpeg for all segments, fed back to back on stdin, run by the same runner. */
async function warmAll(args, segments) {
  const c0 = selfCpu();
  const t0 = performance.now();
  const output = await runStageFfmpeg(args, Buffer.concat(segments.map((s) => s.data)));
  const wallMs = performance.now() - t0;
  return { wallMs, cpuSec: selfCpu().children - c0.children, output };
}

/**
 * A warm ffmpeg fed one segment at a time. After each write: wait until all of it has been taken
 * from the pipe and ffmpeg has written nothing and used no CPU for `quietMs` (it waits for input),
 * or until `boundMs`. Then note how many video frames are out. Output frames are attributed to
 * input segments by their order (one frame out per frame in, as the stage options promise, and
 * checked in framesInOut), not by PTS, for the same reason as above.
 */
export async function warmPaced(args, segments, { quietMs, boundMs }) {
  const inCounts = segments.map((s) => videoFramesOf(s.data).length);
  const cum = inCounts.reduce((a, n) => [...a, a.at(-1) + n], [0]);
  const segOf = (k) => {
    let j = 0;
    while (j + 1 < segments.length && k >= cum[j + 1]) j++;
    return j;
  };
  const arrivals = segments.map(() => []);
  let outFrames = 0;
  let firstOutAt;
  let lastOutAt = performance.now();
  const parser = new TsVideoFrames((f) => {
    const at = performance.now();
    firstOutAt ??= at;
    arrivals[segOf(outFrames++)].push({ at, key: f.key });
  });
  const c0 = selfCpu();
  const t0 = performance.now();
  const child = spawn('ffmpeg', args, { stdio: ['pipe', 'pipe', 'pipe'] });
  const out = [];
  let stderr = '';
  child.stdout.on('data', (c) => {
    lastOutAt = performance.now();
    out.push(c);
    parser.push(c);
  });
  child.stderr.on('data', (c) => (stderr = (stderr + c).slice(-4000)));
  child.stdin.on('error', () => undefined);
  const closed = new Promise((resolve) => child.once('close', (code, signal) => resolve({ code, signal })));
  const writtenAt = [];
  const outBeforeNext = [];
  const waitedMs = [];
  const hitBound = [];
  try {
    for (const [i, s] of segments.entries()) {
      writtenAt.push(performance.now());
      if (i > 0) outBeforeNext.push(arrivals[i - 1].length);
      child.stdin.write(s.data);
      // Quiet: the pipe drained, no output and no CPU time over the last quietMs.
      const w0 = performance.now();
      let cpuMark = cpuOf(child.pid)?.self ?? 0;
      let cpuMarkAt = performance.now();
      let quiet = false;
      while (performance.now() - w0 < boundMs) {
        await sleep(25);
        if (child.exitCode !== null) throw new Error(`warm ffmpeg exited early: ${stderr.trim().split('\n').slice(-3).join(' | ')}`);
        const now = performance.now();
        const cpu = cpuOf(child.pid)?.self ?? cpuMark;
        // More than one clock tick since the mark: ffmpeg is still working.
        if (cpu - cpuMark > 0.015 || child.stdin.writableLength > 0) {
          cpuMark = cpu;
          cpuMarkAt = now;
        }
        if (now - Math.max(lastOutAt, cpuMarkAt, writtenAt[i]) >= quietMs) {
          quiet = true;
          break;
        }
      }
      waitedMs.push(performance.now() - w0);
      hitBound.push(!quiet);
    }
    const endAt = performance.now();
    outBeforeNext.push(arrivals.at(-1).length);
    child.stdin.end();
    const { code, signal } = await closed;
    if (code !== 0) throw new Error(`warm ffmpeg failed (${signal ?? `code ${code}`}): ${stderr.trim().split('\n').slice(-3).join(' | ')}`);
    const cpuSec = selfCpu().children - c0.children;
    // When a frame that came out at `at` would have come out had segment i been written at t=0
    // and each later one a segment duration after the one before (a live stream's pace): the
    // segments written by then arrive at the live pace, and what ffmpeg took after the last of
    // those writes is added as measured.
    const liveOf = (at, i) => {
      let j = i;
      while (j + 1 < segments.length && writtenAt[j + 1] <= at) j++;
      return segments.slice(i + 1, j + 1).reduce((a, q) => a + q.duration * 1000, 0) + (at - writtenAt[j]);
    };
    const perSeg = segments.map((s, i) => {
      const a = arrivals[i];
      const last = a.length ? Math.max(...a.map((x) => x.at)) : undefined;
      // The time the next segment was written (for the last one: the close of stdin).
      const next = i + 1 < segments.length ? writtenAt[i + 1] : endAt;
      const held = inCounts[i] - outBeforeNext[i];
      const lastFrameMs = last === undefined ? undefined : last - writtenAt[i];
      const afterNextMs = last === undefined ? undefined : Math.max(0, last - next);
      return {
        index: i,
        inFrames: inCounts[i],
        outFrames: a.length,
        outBeforeNext: outBeforeNext[i],
        held,
        // Past stream start-up: ffmpeg had produced output before the next segment was written.
        steady: i > 0 && firstOutAt !== undefined && firstOutAt < next,
        hasNext: i + 1 < segments.length,
        keyAtStart: a.length > 0 && a[0].key,
        lastFrameMs,
        afterNextMs,
        liveMs: last === undefined ? undefined : liveOf(last, i),
        waitedMs: waitedMs[i],
        hitBound: hitBound[i],
      };
    });
    const startup = {
      segmentsBeforeFirstOutput: writtenAt.filter((t) => firstOutAt === undefined || t <= firstOutAt).length,
      firstOutputMs: firstOutAt === undefined ? undefined : firstOutAt - writtenAt[0],
      firstOutputLiveMs: firstOutAt === undefined ? undefined : liveOf(firstOutAt, 0),
    };
    return { wallMs: performance.now() - t0, cpuSec, perSeg, startup, output: Buffer.concat(out) };
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
}

export async function warm(ctx) {
  const { cfg, media, log } = ctx;
  const w = cfg.warm;
  const segments = media.segments.slice(0, Math.min(w.segments, media.segments.length));
  const seconds = segments.reduce((a, s) => a + s.duration, 0);
  const latSegments = media.segments.slice(0, Math.min(w.latencySegments, media.segments.length));
  const latSeconds = latSegments.reduce((a, s) => a + s.duration, 0);
  const dir = await mkdtemp(join(tmpdir(), 'livemesh-bench-warm-'));
  try {
    // 1. Cost, segments back to back. Per-segment and warm alternate within a run.
    const raw = { transcode: [], audio: [] };
    const perSegmentOutputs = {};
    let engineOutputs;
    for (let run = 0; run < w.runs; run++) {
      for (const [kind, st] of Object.entries(STAGES)) {
        const p = await perSegment(st.perSegment(), segments);
        const wa = await warmAll(st.warm(segments), segments);
        // The engine copies audio only: it serves the video stages (transcode here), not audio.
        const en = st.engine ? await engineAll(st.engine(), segments) : undefined;
        if (run === 0) perSegmentOutputs[kind] = p.outputs;
        if (run === 0 && en) engineOutputs = en.outputs;
        const inFrames = segments.reduce((a, s) => a + videoFramesOf(s.data).length, 0);
        raw[kind].push({
          run,
          perSegment: { wallMs: p.wallMs, cpuSec: p.cpuSec, runMs: p.runMs, outFrames: p.outputs.reduce((a, o) => a + videoFramesOf(o).length, 0) },
          warm: { wallMs: wa.wallMs, cpuSec: wa.cpuSec, outFrames: videoFramesOf(wa.output).length },
          engine: en ? { wallMs: en.wallMs, cpuSec: en.cpuSec, runMs: en.runMs, outFrames: en.outputs.reduce((a, o) => a + videoFramesOf(o).length, 0) } : undefined,
          inFrames,
        });
        log(`warm run ${run} ${kind}: per-segment ${(seconds / (p.wallMs / 1000)).toFixed(2)}x realtime, ${(p.cpuSec / seconds).toFixed(3)} CPU s/s; warm ${(seconds / (wa.wallMs / 1000)).toFixed(2)}x, ${(wa.cpuSec / seconds).toFixed(3)} CPU s/s${en ? `; lm-engine ${(seconds / (en.wallMs / 1000)).toFixed(2)}x, ${(en.cpuSec / seconds).toFixed(3)} CPU s/s` : ''}`);
      }
    }
    const cost = {};
    for (const [kind, runs] of Object.entries(raw)) {
      const pc = summary(runs.map((r) => cpuPerMediaSec(r.perSegment.cpuSec, seconds)));
      const wc = summary(runs.map((r) => cpuPerMediaSec(r.warm.cpuSec, seconds)));
      const px = summary(runs.map((r) => seconds / (r.perSegment.wallMs / 1000)));
      const wx = summary(runs.map((r) => seconds / (r.warm.wallMs / 1000)));
      const withEngine = runs.filter((r) => r.engine);
      const ec = withEngine.length ? summary(withEngine.map((r) => cpuPerMediaSec(r.engine.cpuSec, seconds))) : undefined;
      const ex = withEngine.length ? summary(withEngine.map((r) => seconds / (r.engine.wallMs / 1000))) : undefined;
      cost[kind] = {
        stage: STAGES[kind].describe,
        perSegment: { cpuSecPerMediaSec: pc, xRealtime: px },
        warm: { cpuSecPerMediaSec: wc, xRealtime: wx },
        engine: ec ? { cpuSecPerMediaSec: ec, xRealtime: ex } : undefined,
        // Ratios of medians: how much more per-segment costs than warm (and than the engine).
        ratios: { cpu: pc.median / wc.median, wall: wx.median / px.median, cpuVsEngine: ec ? pc.median / ec.median : undefined, wallVsEngine: ex ? ex.median / px.median : undefined },
        framesInOut: runs.map((r) => ({ in: r.inFrames, perSegment: r.perSegment.outFrames, warm: r.warm.outFrames, engine: r.engine?.outFrames })),
        raw: runs,
      };
    }

    // 2. Latency of a warm ffmpeg fed one segment at a time.
    const modes = [
      ['warmVeryfast', `transcode, warm, x264 ${TRANSCODE.preset} (as the services use it)`, warmTranscodeArgs(latSegments)],
      ['warmZerolatency', `transcode, warm, x264 ${TRANSCODE.preset} -tune zerolatency`, warmTranscodeArgs(latSegments, { zerolatency: true })],
      ['warmAudio', 'audio, warm (video copied, AAC re-encoded)', audioArgs()],
    ];
    const latency = {};
    const latOutputs = {};
    for (const [key, describe, args] of modes) {
      const r = await warmPaced(args, latSegments, { quietMs: w.quietMs, boundMs: w.boundMs });
      latOutputs[key] = r.output;
      // Stream start-up (probing) holds the first segments; the last one is flushed by the end
      // of input, so it gives a held-back count but no time.
      const steady = r.perSeg.filter((q) => q.steady);
      const timed = steady.filter((q) => q.hasNext);
      latency[key] = {
        describe,
        segments: latSegments.length,
        framesPerSegment: summary(r.perSeg.map((q) => q.inFrames)),
        held: summary(steady.map((q) => q.held)),
        lastFrameMs: summary(timed.map((q) => q.lastFrameMs)),
        afterNextMs: summary(timed.map((q) => q.afterNextMs)),
        liveMs: summary(timed.map((q) => q.liveMs)),
        startup: { ...r.startup, firstSegmentLastFrameMs: r.perSeg[0].lastFrameMs, firstSegmentLiveMs: r.perSeg[0].liveMs, firstSegmentOutBeforeNext: r.perSeg[0].outBeforeNext },
        keyFramesAtSegmentStarts: r.perSeg.filter((q) => q.keyAtStart).length,
        framesInOut: { in: r.perSeg.reduce((a, q) => a + q.inFrames, 0), out: r.perSeg.reduce((a, q) => a + q.outFrames, 0) },
        boundHits: r.perSeg.filter((q) => q.hitBound).length,
        cpuSecPerMediaSec: r.cpuSec / latSeconds,
        raw: r.perSeg,
      };
      log(`warm latency ${key}: held back ${latency[key].held.median} frames (max ${latency[key].held.max}) of ${latency[key].framesPerSegment.median}, last frame ${Math.round(latency[key].lastFrameMs.median)} ms after the write (live pacing ~${Math.round(latency[key].liveMs.median)} ms)`);
    }
    // Per segment, the output is there when the run ends: its latency is the run's wall time.
    const perSegRunMs = raw.transcode.flatMap((r) => r.perSegment.runMs.slice(0, latSegments.length));
    const perSegRunAudioMs = raw.audio.flatMap((r) => r.perSegment.runMs.slice(0, latSegments.length));
    const keyStarts = (outputs) => outputs.filter((o) => videoFramesOf(o)[0]?.key).length;
    latency.perSegment = { describe: 'transcode, one ffmpeg per segment', segments: segments.length, held: summary(perSegRunMs.map(() => 0)), lastFrameMs: summary(perSegRunMs), liveMs: summary(perSegRunMs), keyFramesAtSegmentStarts: keyStarts(perSegmentOutputs.transcode) };
    // The engine answers each request with the segment's whole output: its latency is the
    // request's time (one at a time, the next written once the previous is out). Its first
    // segment also starts the process: reported as start-up, left out of the steady figures.
    const engineRuns = raw.transcode.filter((r) => r.engine);
    if (engineRuns.length) {
      const steadyMs = engineRuns.flatMap((r) => r.engine.runMs.slice(1, latSegments.length));
      latency.engine = {
        describe: 'transcode, lm-engine (warm libav, one request per segment)',
        segments: segments.length,
        held: summary(steadyMs.map(() => 0)),
        lastFrameMs: summary(steadyMs),
        liveMs: summary(steadyMs),
        startup: { firstSegmentMs: summary(engineRuns.map((r) => r.engine.runMs[0])) },
        keyFramesAtSegmentStarts: keyStarts(engineOutputs),
      };
    }
    latency.perSegmentAudio = { describe: 'audio, one ffmpeg per segment', segments: segments.length, held: summary(perSegRunAudioMs.map(() => 0)), lastFrameMs: summary(perSegRunAudioMs), liveMs: summary(perSegRunAudioMs), keyFramesAtSegmentStarts: keyStarts(perSegmentOutputs.audio) };

    // 3. Quality: PSNR of each transcode output against the source, on the segments of part 2.
    const src = join(dir, 'source.ts');
    await writeFile(src, Buffer.concat(latSegments.map((s) => s.data)));
    const files = {
      perSegment: Buffer.concat(perSegmentOutputs.transcode.slice(0, latSegments.length)),
      warmVeryfast: latOutputs.warmVeryfast,
      warmZerolatency: latOutputs.warmZerolatency,
      ...(engineOutputs ? { engine: Buffer.concat(engineOutputs.slice(0, latSegments.length)) } : {}),
    };
    const refFilter = scaleFilter({ width: TRANSCODE.width, height: TRANSCODE.height, keepAspect: false });
    const quality = {};
    for (const [key, data] of Object.entries(files)) {
      const f = join(dir, `${key}.ts`);
      await writeFile(f, data);
      const frames = videoFramesOf(data);
      quality[key] = { psnr: await psnr(f, src, { refFilter }), frames: frames.length, kbps: (data.byteLength * 8) / 1000 / latSeconds };
      log(`warm psnr ${key}: y ${quality[key].psnr.y} dB, average ${quality[key].psnr.average} dB over ${frames.length} frames`);
    }

    return {
      mediaSeconds: seconds,
      segments: segments.length,
      runs: w.runs,
      latencySegments: latSegments.length,
      latencyMediaSeconds: latSeconds,
      settings: { transcode: TRANSCODE, audio: AUDIO },
      quietMs: w.quietMs,
      boundMs: w.boundMs,
      cost,
      latency,
      quality,
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
