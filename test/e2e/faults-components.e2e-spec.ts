// Components SIGKILLed mid-stream (docs/reliability.md, "Components killed mid-stream"). One real
// mesh (nats-server, orchestrator with its process runtime, ingest, delivery, the default chain's
// workers) and one live RTMP stream with 1 s segments. In turn ingest (restarted; the encoder
// publishes again, as a real one does), delivery (restarted) and nats-server (restarted on the same
// port and store) are SIGKILLed. After each one is back:
// - acked segments lost: 0. Every seq JetStream took from ingest (seen on lm.seg or lm.out) is on
//   lm.out, as a segment or a gap marker, or was given up with a `segments-dropped` event;
// - the HLS playlist is continuous or marks exactly what could not be made: seqs strictly
//   increasing, EXT-X-DISCONTINUITY exactly where a seq is missing or the source timeline restarted
//   (a new epoch), no seq that reached lm.out missing, each seq keeping its media sequence number
//   across fetches and the restart;
// - the worker processes per service are what they were before (no orphan, no duplicate).
// The orchestrator's SIGKILL is faults-supervision.e2e-spec.ts, a worker's worker-faults.e2e-spec.ts.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Bus, type StoredMsg } from '@livemesh/bus';
import { SEGMENT_HEADERS, STREAMS, subjects, type SegmentsDroppedData, type StreamEvent } from '@livemesh/contracts';
import { assertContinuous, generateClip, parseM3u8, probeHls, publishRtmp, type MediaPlaylist, type ProbedSegment } from '../support/media.js';
import { startMesh, type Mesh, type StreamView } from '../support/mesh.js';
import { waitFor } from '../support/wait.js';

/** What the default pipeline's transcode renders, whatever the source's size. */
const OUTPUT_SIZE = DEFAULT_PIPELINE.stages.find((s) => s.service === 'transcode')!.params as { width: number; height: number };
import { DEFAULT_PIPELINE } from '@livemesh/services';
import { workerCounts, workerPids } from '../support/workers.js';

const ID = 'kill-components';
const RENDITION = 'main';
/** Segments that must come out after a component is back before its figures are taken. */
const AFTER = 3;

/** What one stream's stored subjects say, read incrementally by stream sequence (survives a nats-server restart, unlike a core subscription). */
class StoredLog {
  private next = 1;
  constructor(private readonly bus: Bus, private readonly stream: string, private readonly onMsg: (m: StoredMsg) => void) {}

  async read(): Promise<void> {
    const { lastSeq } = await this.bus.streamInfo(this.stream);
    for (; this.next <= lastSeq; this.next++) {
      const m = await this.bus.getMessage(this.stream, { seq: this.next });
      if (m) this.onMsg(m);
    }
  }
}

interface Output {
  gap: boolean;
  epoch: number;
}

const sorted = (xs: Iterable<number>) => [...new Set(xs)].sort((a, b) => a - b);

describe('components SIGKILLed mid-stream: ingest, delivery, nats-server', () => {
  let dir: string;
  let clipA: string;
  let clipB: string;
  let mesh: Mesh;
  let bus: Bus;
  let stream: StreamView;
  let encoder: Promise<{ code: number | null; stderr: string }>;
  /** Seqs seen on the first hop's subject (lm.seg): JetStream took them from ingest. */
  const cut = new Set<number>();
  /** lm.out, by seq: a segment or a gap marker, with its epoch. */
  const outputs = new Map<number, Output>();
  /** Seqs given up with a `segments-dropped` event. */
  const dropped = new Set<number>();
  let outLog: StoredLog;
  let evtLog: StoredLog;
  let playlistUrl: string;
  /** Media sequence number of each seq the first time a playlist listed it. */
  const mediaSeqOf = new Map<number, number>();
  let lastMediaSequence = -1;
  const timings: Record<string, number> = {};

  beforeAll(async () => {
    const t0 = Date.now();
    dir = await mkdtemp(join(tmpdir(), 'livemesh-kill-'));
    // Light clips, a key frame every second: ingest cuts 1 s segments.
    clipA = await generateClip({ seconds: 12, width: 320, height: 180, fps: 25, out: join(dir, 'a.flv') });
    clipB = await generateClip({ seconds: 40, width: 320, height: 180, fps: 25, out: join(dir, 'b.flv') });
    // A short ack wait: a segment a dead connection held comes back in 2.5 s. A window longer than
    // the stream: every seq stays listed, so the playlist can be checked whole after each restart.
    mesh = await startMesh({ SEGMENT_SECONDS: '1', STAGE_ACK_WAIT_MS: '2500', HLS_WINDOW: '200' });
    bus = await mesh.connectBus('faults-components-e2e');
    stream = await mesh.startStream({ id: ID });
    const seg = bus.subscribe(stream.chain.hops[0]!.subject);
    void (async () => {
      for await (const m of seg) cut.add(Number(m.headers?.get(SEGMENT_HEADERS.seq)));
    })();
    const outSubject = subjects.output(ID, RENDITION);
    outLog = new StoredLog(bus, STREAMS.output, (m) => {
      if (m.subject !== outSubject) return;
      const seq = Number(m.headers?.get(SEGMENT_HEADERS.seq));
      const prev = outputs.get(seq);
      // A real segment wins over a gap marker for the same seq (JetStream drops the second by its id anyway).
      if (!prev || prev.gap) outputs.set(seq, { gap: Boolean(m.headers?.get(SEGMENT_HEADERS.gap)), epoch: Number(m.headers?.get(SEGMENT_HEADERS.epoch) || 0) });
    });
    const dropSubject = subjects.streamEvent(ID, 'segments-dropped');
    evtLog = new StoredLog(bus, STREAMS.events, (m) => {
      if (m.subject !== dropSubject) return;
      const d = m.json<StreamEvent>().data as unknown as SegmentsDroppedData;
      for (let s = d.from; s <= d.to; s++) dropped.add(s);
    });
    await bus.flush();
    timings.setup = Date.now() - t0;
  }, 120_000);

  afterAll(async () => {
    await encoder?.catch(() => undefined);
    await bus?.close();
    await mesh?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
    process.stdout.write(`[faults-components] timings ms: ${JSON.stringify(timings)}\n`);
  }, 60_000);

  const read = async () => {
    await outLog.read();
    await evtLog.read();
  };
  const madeSeqs = () => [...outputs].filter(([, o]) => !o.gap).map(([s]) => s);
  const lastOut = () => Math.max(-1, ...madeSeqs());
  const accounted = (seq: number) => outputs.has(seq) || dropped.has(seq);

  /** Reads lm.out until `n` segments past `after` are on it (the stream goes on). */
  async function outputsPast(after: number, n: number, what: string): Promise<void> {
    await waitFor(what, 45_000, async () => {
      await read();
      return madeSeqs().filter((s) => s > after).length >= n;
    }, { retryErrors: true, detail: () => `lm.out ${sorted(madeSeqs()).join(',')}; cut ${sorted(cut).join(',')}` });
  }

  /** Acked seqs up to now not (yet) on lm.out nor dropped with an event, after waiting for the ones in flight. */
  async function lostSoFar(): Promise<{ acked: number; lost: number[] }> {
    await read();
    const upTo = Math.max(...cut, ...outputs.keys());
    const acked = () => sorted([...cut, ...outputs.keys()]).filter((s) => s <= upTo);
    const lost = () => acked().filter((s) => !accounted(s));
    await waitFor('every acked segment on lm.out or dropped with an event', 20_000, async () => {
      await read();
      return lost().length === 0;
    }, { retryErrors: true }).catch(() => undefined); // the figure below says what is missing
    return { acked: acked().length, lost: lost() };
  }

  /** Fetches the media playlist and checks it against what lm.out holds; returns the problems found. */
  async function checkHls(): Promise<{ listed: number[]; discontinuities: number[]; problems: string[] }> {
    await read();
    let pl: MediaPlaylist = parseM3u8(await (await fetch(playlistUrl)).text(), playlistUrl);
    if (pl.variants.length > 0) {
      playlistUrl = pl.variants.find((v) => v.includes(`/${RENDITION}/`)) ?? pl.variants[0]!;
      pl = parseM3u8(await (await fetch(playlistUrl)).text(), playlistUrl);
    }
    const problems: string[] = [];
    const listed = pl.segments.map((s) => Number(/(\d+)\.ts(\?|$)/.exec(s.uri)?.[1]));
    if (pl.mediaSequence < lastMediaSequence) problems.push(`EXT-X-MEDIA-SEQUENCE went back from ${lastMediaSequence} to ${pl.mediaSequence}`);
    lastMediaSequence = pl.mediaSequence;
    const discontinuities: number[] = [];
    pl.segments.forEach((s, i) => {
      const seq = listed[i]!;
      const known = mediaSeqOf.get(seq);
      if (known === undefined) mediaSeqOf.set(seq, s.sequence);
      else if (known !== s.sequence) problems.push(`seq ${seq} was media sequence ${known}, now ${s.sequence}`);
      if (s.discontinuityBefore) discontinuities.push(seq);
      if (!outputs.get(seq) || outputs.get(seq)!.gap) problems.push(`seq ${seq} listed but not on lm.out as a segment`);
      if (i === 0) return;
      const prev = listed[i - 1]!;
      if (seq <= prev) {
        problems.push(`seq ${seq} listed after ${prev}`);
        return;
      }
      const hole = seq !== prev + 1;
      const newEpoch = outputs.get(seq)?.epoch !== outputs.get(prev)?.epoch;
      if (s.discontinuityBefore !== (hole || newEpoch)) {
        problems.push(`seq ${seq}: EXT-X-DISCONTINUITY ${s.discontinuityBefore ? 'present' : 'absent'} after ${prev} (hole: ${hole}, new epoch: ${newEpoch})`);
      }
      for (let m = prev + 1; m < seq; m++) if (outputs.get(m) && !outputs.get(m)!.gap) problems.push(`seq ${m} is on lm.out but not in the playlist`);
    });
    for (const seq of mediaSeqOf.keys()) if (!listed.includes(seq) && seq >= (listed[0] ?? 0)) problems.push(`seq ${seq} was listed and is gone`);
    return { listed, discontinuities, problems };
  }

  /** Runs one fault: figures before, the kill and the restart, then the figures the issue names. */
  async function fault(name: string, killAndRestart: () => Promise<void>): Promise<void> {
    const t0 = Date.now();
    await read();
    const before = workerPids(mesh.nats.url);
    // Past everything ingest had cut at the kill: what is in flight through the chain then does not count as after.
    const lastBefore = Math.max(-1, ...cut, ...outputs.keys());
    const killedAt = Date.now();
    await killAndRestart();
    const backMs = Date.now() - killedAt;
    await outputsPast(lastBefore, AFTER, `${AFTER} segments on lm.out after ${name} is back`);
    const outputMs = Date.now() - killedAt;
    // The playlist catches up with lm.out within delivery's gap wait.
    const upTo = lastOut();
    const hls = await waitFor(`the playlist to list up to seq ${upTo}`, 20_000, async () => {
      const h = await checkHls();
      return h.listed.some((s) => s >= upTo) ? h : undefined;
    }, { retryErrors: true }).catch(async () => {
      const h = await checkHls();
      h.problems.push(`the playlist stopped at seq ${h.listed.at(-1)} while lm.out has up to seq ${upTo}; delivery's last lines:\n${mesh.apps.delivery.tail(8)}`);
      return h;
    });
    const { acked, lost } = await lostSoFar();
    // Workers: the same number per service as before, once anything the fault set off has settled.
    const wanted = workerCounts(before);
    const after = await waitFor('the worker processes per service to be what they were', 15_000, () => {
      const c = workerCounts(workerPids(mesh.nats.url));
      return JSON.stringify(c) === JSON.stringify(wanted) ? c : undefined;
    }).catch(() => workerCounts(workerPids(mesh.nats.url)));
    const samePids = JSON.stringify([...before.values()].flat().sort()) === JSON.stringify([...workerPids(mesh.nats.url).values()].flat().sort());
    timings[name] = Date.now() - t0;
    process.stdout.write(
      `[faults-components] ${name} SIGKILL: back after ${backMs} ms, ${AFTER} new segments on lm.out after ${outputMs} ms; ` +
        `acked ${acked}, lost ${lost.length}${lost.length ? ` (${lost.join(',')})` : ''}, on lm.out ${madeSeqs().length} + ${outputs.size - madeSeqs().length} gap marker(s), dropped with an event ${dropped.size}; ` +
        `playlist lists ${hls.listed.length} (seq ${hls.listed[0]}..${hls.listed.at(-1)}), EXT-X-DISCONTINUITY before ${JSON.stringify(hls.discontinuities)}, problems ${hls.problems.length}; ` +
        `workers before ${JSON.stringify(wanted)}, after ${JSON.stringify(after)}${samePids ? ' (same processes)' : ''}\n`,
    );
    for (const p of hls.problems) process.stdout.write(`[faults-components]   playlist: ${p}\n`);
    expect(lost).toEqual([]);
    expect(hls.problems).toEqual([]);
    expect(after).toEqual(wanted);
  }

  it('ingest SIGKILLed and restarted, the encoder publishing again: nothing acked lost, the playlist marks the new timeline', async () => {
    const t0 = Date.now();
    playlistUrl = stream.playback.hls;
    const first = publishRtmp(clipA, stream.publish.rtmp, { realtime: true });
    await outputsPast(-1, 3, 'the stream on lm.out');
    const startedMs = Date.now() - t0;
    await fault('ingest', async () => {
      process.kill(mesh.apps.ingest.pid!, 'SIGKILL');
      await mesh.apps.ingest.exited;
      await first; // the connection is gone: the encoder stops, as a real one would before it reconnects
      await mesh.startApp('ingest');
      encoder = publishRtmp(clipB, stream.publish.rtmp, { realtime: true });
    });
    process.stdout.write(`[faults-components] stream on lm.out after ${startedMs} ms\n`);
  }, 90_000);

  it('delivery SIGKILLed and restarted: nothing acked lost, the playlist goes on where it was', async () => {
    await fault('delivery', async () => {
      process.kill(mesh.apps.delivery.pid!, 'SIGKILL');
      await mesh.apps.delivery.exited;
      await mesh.startApp('delivery');
    });
  }, 90_000);

  it('nats-server SIGKILLed and restarted on its port and store: nothing acked lost, workers reconnect, none added', async () => {
    await fault('nats-server', async () => {
      await mesh.nats.kill();
      await mesh.nats.up();
    });
    // The end of the stream: ingest flushes its last segment once the encoder is done; all of it is accounted for.
    const { code, stderr } = await encoder;
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    const { acked, lost } = await lostSoFar();
    // The whole playlist once more, and its media: between two EXT-X-DISCONTINUITY tags the
    // timestamps run on without a gap or an overlap (each run checked like an uninterrupted stream).
    const upTo = lastOut();
    const final = await waitFor(`the playlist to list up to seq ${upTo}`, 20_000, async () => {
      const h = await checkHls();
      return h.listed.includes(upTo) ? h : undefined;
    }, { retryErrors: true });
    const t0 = Date.now();
    const probed = await probeHls(playlistUrl);
    const runs: ProbedSegment[][] = [];
    for (const seg of probed.segments) {
      if (seg.discontinuityBefore || runs.length === 0) runs.push([]);
      runs.at(-1)!.push(seg);
    }
    const breaks: string[] = [];
    for (const run of runs) {
      try {
        assertContinuous({ ...probed, discontinuity: false, segments: run }, { size: OUTPUT_SIZE, audio: true, minSegments: 1 });
      } catch (e) {
        breaks.push((e as Error).message);
      }
    }
    timings.probe = Date.now() - t0;
    process.stdout.write(
      `[faults-components] end of stream: acked ${acked}, lost ${lost.length}, dropped with an event ${dropped.size}; playlist lists ${final.listed.length} of seq 0..${upTo} ` +
        `in ${runs.length} run(s) between discontinuities (${runs.map((r) => r.length).join('+')}), problems ${final.problems.length}, runs with a timestamp break ${breaks.length}\n`,
    );
    expect(lost).toEqual([]);
    expect(final.problems).toEqual([]);
    expect(breaks).toEqual([]);
  }, 90_000);
});
