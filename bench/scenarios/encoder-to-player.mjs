// Encoder-to-player latency through the whole mesh (issue 16: "a true encoder-to-player
// measurement"). nats-server, the orchestrator (process runtime: it starts the workers), ingest and
// delivery run as they do under `livemesh up`. A publisher hands frames to ffmpeg at the wall-clock
// pace of a live camera, each carrying the wall clock of the moment it was handed over as a row of
// black and white blocks (libs/media clock.code.ts; top-left, where the chain's watermark is not);
// ffmpeg encodes them (x264 veryfast, zerolatency, 2 s GOP) and pushes RTMP to ingest. A player
// (ffmpeg reading the stream's HLS playlist through the orchestrator's /hls, `-re` so frames come
// out at the pace a player presents them, starting 3 segments from the live edge as hls.js does)
// decodes every frame; the bench reads each frame's code and records now minus that clock. Both
// ends run on this machine, so there is one clock. Beside it: the stream's own
// `latency.ingestToPlaylistMs` from the API in the same run, which starts at ingest's cut.
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateApiToken } from '@livemesh/contracts';
import { CLOCK_CODE, drawClockCode, readClockCode } from '@livemesh/media';
import { ROOT, freePort } from '../lib/mesh.mjs';
import { sleep, startChild, waitFor } from '../lib/proc.mjs';
import { quantile, round } from '../lib/stats.mjs';

const { width: W, height: H, block } = CLOCK_CODE;
const FPS = 30;

/** The mesh's three apps on free ports around the bench's nats-server. */
async function startApps(natsUrl, dataDir, token) {
  const ports = {};
  for (const name of ['HTTP_PORT', 'RTMP_PORT', 'INGEST_HTTP_PORT', 'DELIVERY_PORT']) ports[name] = String(await freePort());
  const { HTTP_PORT: http, INGEST_HTTP_PORT: ingestHttp, DELIVERY_PORT: delivery } = ports;
  const env = { NATS_URL: natsUrl, ...ports, DELIVERY_URL: `http://127.0.0.1:${delivery}`, LIVEMESH_DATA_DIR: dataDir, LIVEMESH_ADMIN_TOKEN: token, LOG_LEVEL: 'warn' };
  const apps = ['orchestrator', 'delivery', 'ingest'].map((name) => startChild(name, process.execPath, [join(ROOT, 'apps', name, 'dist', 'main.js')], { env }));
  const health = [`http://127.0.0.1:${http}/health`, `http://127.0.0.1:${delivery}/health`, `http://127.0.0.1:${ingestHttp}/health`];
  for (const [i, url] of health.entries()) {
    await waitFor(async () => (await fetch(url).catch(() => undefined))?.ok, 90_000, `${apps[i].name} healthy (${apps[i].tail(10)})`, 200);
  }
  const api = async (method, path, body) => {
    const res = await fetch(`http://127.0.0.1:${http}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${path} -> ${res.status} ${text.slice(0, 300)}`);
    return text ? JSON.parse(text) : undefined;
  };
  return { api, stop: () => Promise.all(apps.map((a) => a.stop(20_000))) };
}

/**
 * The publisher: yuv420p frames at FPS, paced by the wall clock, each stamped with Date.now() as it
 * is written to the encoder; a moving bar keeps the encoder's work realistic. Resolves when done.
 */
function publish(url, seconds) {
  const enc = spawn('ffmpeg', [
    '-hide_banner', '-loglevel', 'error', '-nostdin',
    '-f', 'rawvideo', '-pix_fmt', 'yuv420p', '-s', `${W}x${H}`, '-r', String(FPS), '-i', 'pipe:0',
    '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000',
    '-map', '0:v', '-map', '1:a', '-shortest',
    '-c:v', 'libx264', '-preset', 'veryfast', '-tune', 'zerolatency', '-pix_fmt', 'yuv420p', '-g', String(2 * FPS), '-keyint_min', String(2 * FPS), '-sc_threshold', '0', '-b:v', '1500k',
    '-c:a', 'aac', '-b:a', '64k', '-f', 'flv', url,
  ], { stdio: ['pipe', 'ignore', 'pipe'] });
  let stderr = '';
  enc.stderr.on('data', (c) => (stderr += c));
  enc.stdin.on('error', () => undefined);
  const frame = Buffer.alloc((W * H * 3) / 2, 128);
  const total = seconds * FPS;
  const started = Date.now();
  return new Promise((resolve, reject) => {
    let n = 0;
    const next = () => {
      if (n >= total || enc.exitCode !== null) return void enc.stdin.end();
      frame.fill(40, 0, W * H);
      const bar = (n * 8) % W;
      for (let y = block * 2; y < H; y++) frame.fill(200, y * W + bar, y * W + Math.min(W, bar + 40));
      drawClockCode(frame, W, Date.now());
      n++;
      const ok = enc.stdin.write(frame);
      const wait = Math.max(0, started + (n * 1000) / FPS - Date.now());
      if (ok) setTimeout(next, wait);
      else enc.stdin.once('drain', () => setTimeout(next, Math.max(0, started + (n * 1000) / FPS - Date.now())));
    };
    enc.once('close', (code) => (code === 0 ? resolve({ frames: n }) : reject(new Error(`publisher ffmpeg exited ${code}: ${stderr.trim().slice(-300)}`))));
    next();
  });
}

/**
 * The player: ffmpeg reads the live playlist from 3 segments behind its edge, at presentation
 * pace, and hands over the top strip of each frame scaled back to the reference size. Samples of
 * now minus the frame's clock, ms, until `until()` says stop.
 */
function play(url, onSample) {
  const p = spawn('ffmpeg', [
    '-hide_banner', '-loglevel', 'error', '-nostdin',
    '-live_start_index', '-3', '-re', '-i', url,
    '-map', '0:v:0', '-vf', `scale=${W}:${H},crop=${W}:${block}:0:0,format=gray`, '-f', 'rawvideo', 'pipe:1',
  ], { stdio: ['ignore', 'pipe', 'pipe'] });
  const size = W * block;
  let pending = Buffer.alloc(0);
  let frames = 0;
  let unreadable = 0;
  p.stdout.on('data', (chunk) => {
    const now = Date.now();
    pending = Buffer.concat([pending, chunk]);
    while (pending.length >= size) {
      const ms = readClockCode(pending.subarray(0, size), W);
      pending = pending.subarray(size);
      frames++;
      if (ms === undefined) unreadable++;
      else onSample(now - ms);
    }
  });
  let stderr = '';
  p.stderr.on('data', (c) => (stderr += c));
  return {
    counts: () => ({ frames, unreadable }),
    stop: async () => {
      p.kill('SIGKILL');
      await new Promise((r) => (p.exitCode !== null || p.signalCode !== null ? r() : p.once('close', r)));
      return stderr.trim().slice(-300);
    },
  };
}

async function measure(api, log, id, stages, seconds) {
  const view = await api('POST', '/api/streams', { id, ...(stages ? { stages } : {}) });
  const samples = [];
  const publishing = publish(view.publish.rtmp, seconds);
  // The player joins once the playlist lists a few segments, as a viewer opening a live stream would.
  await waitFor(async () => {
    const r = await fetch(view.playback.hls).catch(() => undefined);
    return r?.ok && ((await r.text()).match(/#EXTINF/g) ?? []).length >= 3;
  }, 60_000, `${id}: 3 segments in the playlist`, 200);
  const player = play(view.playback.hls, (ms) => samples.push(ms));
  await publishing;
  // What the encoder sent last is still on its way to the player.
  await sleep(12_000);
  const playerErr = await player.stop();
  const status = await api('GET', `/api/streams/${id}`);
  await api('DELETE', `/api/streams/${id}`);
  const { frames, unreadable } = player.counts();
  if (samples.length < FPS * 5) throw new Error(`${id}: only ${samples.length} frames with a readable clock (${frames} decoded, ${unreadable} unreadable)${playerErr ? `; player: ${playerErr}` : ''}`);
  const out = {
    chain: view.chain.hops.map((h) => h.service + (h.fusedInto !== undefined ? ' (fused)' : '')).join(' -> '),
    framesRead: samples.length,
    framesUnreadable: unreadable,
    encoderToPlayerMs: { p50: round(quantile(samples, 0.5), 0), p95: round(quantile(samples, 0.95), 0), min: round(Math.min(...samples), 0), max: round(Math.max(...samples), 0) },
    ingestToPlaylistMs: status.latency?.ingestToPlaylistMs ?? null,
  };
  log(`  ${id}: encoder-to-player p50 ${out.encoderToPlayerMs.p50} ms, p95 ${out.encoderToPlayerMs.p95} ms over ${samples.length} frames; ingest-to-playlist p50 ${out.ingestToPlaylistMs?.p50 ?? '-'} ms`);
  return out;
}

export async function encoderToPlayer({ cfg, nats, log }) {
  const dataDir = await mkdtemp(join(tmpdir(), 'livemesh-bench-e2p-'));
  const token = generateApiToken('bench').token;
  const mesh = await startApps(nats.url, dataDir, token);
  const seconds = cfg.quick ? 12 : 40;
  try {
    const defaultChain = await measure(mesh.api, log, 'e2p-default', undefined, seconds);
    const passthrough = await measure(mesh.api, log, 'e2p-passthrough', [{ service: 'passthrough', params: {} }], seconds);
    return { publishSeconds: seconds, segmentSeconds: 2, playerStartsSegmentsBehind: 3, defaultChain, passthrough };
  } finally {
    await mesh.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
}
