// Supervision under faults (docs/reliability.md, "Supervision"). A SIGKILLed orchestrator leaves no
// worker behind: its process-runtime workers notice their parent is gone, drain and exit, and the
// next orchestrator's own replicas are all that remain (no orphans, no duplicates), while every
// segment ingest cut still comes out on lm.out. Under `livemesh up`, a SIGKILLed component is
// restarted with back-off and serves again.
import { chmod, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SEGMENT_HEADERS, subjects, type SegmentsDroppedData, type StreamEvent } from '@livemesh/contracts';
import { Bus } from '@livemesh/bus';
import { generateClip, parseM3u8, publishRtmp } from '../support/media.js';
import { meshEnv, startMesh, waitForSegments, type Mesh, type StreamView } from '../support/mesh.js';
import { startNatsServer, type NatsServer } from '../support/nats-server.js';
import { spawnApp, type AppProcess } from '../support/processes.js';
import { waitFor } from '../support/wait.js';
import { alive, workerCounts as counts, workerPids } from '../support/workers.js';
import { authFetch } from '../support/auth.js';

/** Seqs seen on a subject (core subscription: JetStream publishes reach it too). */
function seqsOn(bus: Bus, subject: string): { seqs: Set<number>; stop(): void } {
  const seqs = new Set<number>();
  const sub = bus.subscribe(subject);
  void (async () => {
    for await (const m of sub) seqs.add(Number(m.headers?.get(SEGMENT_HEADERS.seq)));
  })();
  return { seqs, stop: () => sub.unsubscribe() };
}

interface UpMesh {
  nats: NatsServer;
  up: AppProcess;
  env: Record<string, string>;
  dataDir: string;
  /** The admin token `up` wrote. */
  token: string;
}

/** `livemesh up` over a nats-server of the test's own (it would otherwise start one on the fixed port 4222). */
async function startUp(): Promise<UpMesh> {
  const nats = await startNatsServer();
  const dataDir = await mkdtemp(join(tmpdir(), 'livemesh-up-'));
  const env = await meshEnv(nats.url, dataDir, { HLS_WINDOW: '30' });
  // No LIVEMESH_ADMIN_TOKEN: `up` writes <data dir>/admin.token (0600, folder 0700) and the orchestrator reads it.
  delete env.LIVEMESH_ADMIN_TOKEN;
  await chmod(dataDir, 0o755); // as a folder made by hand would be: `up` must close it
  const up = spawnApp('cli', env, ['up']);
  await up.waitForLine(/livemesh is running/, 90_000);
  const tokenFile = join(dataDir, 'admin.token');
  await up.waitForLine(/token {3}admin API token in (\S+) \(new\)/, 1000);
  expect([(await stat(tokenFile)).mode & 0o777, (await stat(dataDir)).mode & 0o777]).toEqual([0o600, 0o700]);
  const token = (await readFile(tokenFile, 'utf8')).trim();
  return { nats, up, env, dataDir, token };
}

/** The pid `livemesh up` logged for a component when it was first ready. */
async function componentPid(up: AppProcess, name: string): Promise<number> {
  return Number((await up.waitForLine(new RegExp(`\\[${name}\\] ready \\(pid (\\d+)\\)`), 1000))[1]);
}

describe('supervision: a SIGKILLed orchestrator, a SIGKILLed component under livemesh up', () => {
  let dir: string;
  let clip: string;
  let longClip: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'livemesh-supervision-'));
    // 14 s, key frame every second: ingest cuts seven ~2 s segments.
    clip = await generateClip({ seconds: 14, width: 480, height: 270, fps: 25, out: join(dir, 'src.flv') });
    // Long enough to outlast two delivery restarts under `livemesh up`.
    longClip = await generateClip({ seconds: 26, width: 480, height: 270, fps: 25, out: join(dir, 'long.flv') });
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  describe('orchestrator SIGKILLed mid-stream (process runtime)', () => {
    let mesh: Mesh;
    let bus: Bus;
    const leftovers: number[] = [];

    beforeAll(async () => {
      // A short ack wait: a segment an exiting worker could not finish comes back in 2.5 s.
      mesh = await startMesh({ STAGE_ACK_WAIT_MS: '2500', HLS_WINDOW: '30' });
      bus = await mesh.connectBus('supervision-e2e');
    });

    afterAll(async () => {
      await bus?.close();
      await mesh?.stop();
      // Should the feature be broken, the old orchestrator's workers are orphans nothing else stops.
      for (const pid of leftovers) if (alive(pid)) process.kill(pid, 'SIGKILL');
    });

    it('leaves exactly the wanted workers per service, and every segment ingest cut reaches lm.out', async () => {
      const stream = await mesh.startStream({ id: 'sup-orch' });
      const services = [...new Set(stream.chain.hops.filter((h) => h.fusedInto === undefined).map((h) => h.service))];
      const cut = seqsOn(bus, stream.chain.hops[0]!.subject);
      const out = seqsOn(bus, subjects.streamOutput('sup-orch'));
      // A segment given up on purpose, with a `segments-dropped` event (the stream's latency
      // budget), is a marked gap, not a loss; any other seq ingest cut must reach lm.out.
      const dropped = new Set<number>();
      const events = bus.subscribe(subjects.streamEvent('sup-orch', 'segments-dropped'));
      void (async () => {
        for await (const m of events) {
          const d = m.json<StreamEvent>().data as SegmentsDroppedData | undefined;
          for (let seq = d?.from ?? 0; d && seq <= d.to; seq++) dropped.add(seq);
        }
      })();
      const accounted = (seq: number) => out.seqs.has(seq) || dropped.has(seq);
      const encoder = publishRtmp(clip, stream.publish.rtmp, { realtime: true });
      await waitFor('two segments on lm.out', 30_000, () => out.seqs.size >= 2);

      const before = workerPids(mesh.nats.url);
      for (const s of services) expect(before.get(s)?.length ?? 0).toBeGreaterThanOrEqual(1);
      const oldPids = [...before.values()].flat();
      leftovers.push(...oldPids);

      const killedAt = Date.now();
      process.kill(mesh.apps.orchestrator.pid!, 'SIGKILL');
      await mesh.apps.orchestrator.exited;
      // The next one comes up at once, as `livemesh up` or an init system would start it.
      const again = await mesh.startApp('orchestrator');
      await again.waitForLine(/reconciled 1 live stream\(s\)/, 30_000);
      // The old workers leave by themselves: they noticed their parent is gone, drained and exited.
      const orphansGoneMs = await waitFor('the killed orchestrator\'s workers to exit', 20_000, () => (oldPids.every((p) => !alive(p)) ? Date.now() - killedAt : undefined), {
        detail: () => `still running: ${oldPids.filter(alive).join(', ')}`,
      });
      // What is wanted: the replicas the stream had before, which the new orchestrator's runtime
      // says it runs (a process it does not list would be an orphan or a duplicate).
      const wanted = counts(before);
      const listed: Record<string, number> = {};
      const after = await waitFor('the new orchestrator\'s workers', 20_000, async () => {
        const now = workerPids(mesh.nats.url);
        for (const s of new Set([...services, ...now.keys()])) {
          const n = ((await mesh.api('GET', `/api/services/${s}/instances`)).body.instances as { state: string }[]).filter((i) => i.state !== 'exited').length;
          if (n) listed[s] = n;
          else delete listed[s];
        }
        return JSON.stringify(counts(now)) === JSON.stringify(wanted) ? now : undefined;
      });

      const { code, stderr } = await encoder;
      expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
      // Ingest's last segment is flushed when the publisher leaves; everything it cut must come out.
      await waitFor('every segment ingest cut on lm.out', 30_000, () => cut.seqs.size >= 6 && [...cut.seqs].every(accounted), {
        detail: () => `cut ${[...cut.seqs].sort((a, b) => a - b).join(',')}; out ${[...out.seqs].sort((a, b) => a - b).join(',')}; dropped ${[...dropped].join(',')}`,
      });
      const missing = [...cut.seqs].filter((s) => !accounted(s));
      events.unsubscribe();
      // Counted once more at the end of the stream, seconds later: a late duplicate would show here.
      const settled = workerPids(mesh.nats.url);
      cut.stop();
      out.stop();
      process.stdout.write(
        `[supervision] orchestrator SIGKILL: workers before ${JSON.stringify(counts(before))}, old workers gone after ${orphansGoneMs} ms, ` +
          `after ${JSON.stringify(counts(settled))} (wanted ${JSON.stringify(wanted)}, runtime lists ${JSON.stringify(listed)}); segments cut ${cut.seqs.size}, on lm.out ${out.seqs.size}, dropped with an event ${dropped.size}, missing ${missing.length}\n`,
      );
      expect(counts(settled)).toEqual(wanted);
      expect(counts(after)).toEqual(wanted);
      expect(listed).toEqual(wanted);
      expect([...settled.values()].flat().some((p) => oldPids.includes(p))).toBe(false);
      expect(missing).toEqual([]);
    }, 90_000);
  });

  describe('livemesh up restarts a component that dies', () => {
    let nats: NatsServer;
    let up: AppProcess;
    let env: Record<string, string>;
    let dataDir: string;
    let token: string;

    beforeAll(async () => {
      ({ nats, up, env, dataDir, token } = await startUp());
    });

    afterAll(async () => {
      // SIGTERM: `up` stops every child (the orchestrator drains its workers) and exits 0.
      const exit = await up?.stop(40_000);
      expect(exit).toEqual({ code: 0, signal: null });
      await nats?.stop();
      await rm(dataDir, { recursive: true, force: true });
    });

    it('restarts delivery after a SIGKILL and after a SIGTERM, with back-off, and the stream is served again each time', async () => {
      const api = `http://127.0.0.1:${env.HTTP_PORT}`;
      const res = await authFetch(`${api}/api/streams`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ id: 'sup-up' }) }, token);
      expect(res.status).toBe(201);
      const stream = (await res.json()) as StreamView;
      const encoder = publishRtmp(longClip, stream.publish.rtmp, { realtime: true });
      const playlistUrl = `${api}/hls/sup-up/index.m3u8`;
      const first = parseM3u8(await waitForSegments(playlistUrl, 2, 30_000), playlistUrl);
      const lastBefore = first.segments.at(-1)!.sequence;

      const pid = await componentPid(up, 'delivery');
      const killedAt = Date.now();
      process.kill(pid, 'SIGKILL');
      const died = await up.waitForLine(/\[delivery\] exited unexpectedly \(code (\S+), signal (\S+)\) after [\d.]+ s up; restart 1 in (\d+) ms/, 10_000);
      expect([died[1], died[2]]).toEqual(['null', 'SIGKILL']);
      const backoffMs = Number(died[3]);
      const ready = await up.waitForLine(/\[delivery\] ready again \(pid (\d+), \d+ ms after restart 1\)/, 30_000);
      const readyMs = Date.now() - killedAt;
      expect(Number(ready[1])).not.toBe(pid);

      // Served again: the playlist (through the orchestrator's /hls) lists a segment cut after the kill.
      const next = await waitFor('a new segment in the playlist after the restart', 30_000, async () => {
        const r = await fetch(playlistUrl);
        if (!r.ok) return undefined;
        const pl = parseM3u8(await r.text(), playlistUrl);
        return pl.segments.some((s) => s.sequence > lastBefore) ? pl : undefined;
      });
      const servedMs = Date.now() - killedAt;
      process.stdout.write(
        `[supervision] livemesh up, delivery SIGKILL: restart delay ${backoffMs} ms, ready again after ${readyMs} ms, ` +
          `serving new segments after ${servedMs} ms (last seq before ${lastBefore}, now ${next.segments.at(-1)!.sequence})\n`,
      );
      expect(backoffMs).toBe(500);

      // SIGTERM (what an operator's `kill` or a redeploy sends): delivery drains and stops cleanly,
      // is restarted after a doubled delay (it crashed less than 30 s ago) and resumes the stream.
      const lastBeforeTerm = next.segments.at(-1)!.sequence;
      const termAt = Date.now();
      process.kill(Number(ready[1]), 'SIGTERM');
      await up.waitForLine(/\[delivery\] .*stopped on SIGTERM/, 15_000);
      const termDied = await up.waitForLine(/\[delivery\] exited unexpectedly \(code (\S+), signal (\S+)\) after [\d.]+ s up; restart 2 in (\d+) ms/, 15_000);
      await up.waitForLine(/\[delivery\] ready again \(pid \d+, \d+ ms after restart 2\)/, 30_000);
      await waitFor('a new segment in the playlist after the SIGTERM restart', 30_000, async () => {
        const r = await fetch(playlistUrl);
        return r.ok && parseM3u8(await r.text(), playlistUrl).segments.some((s) => s.sequence > lastBeforeTerm);
      });
      process.stdout.write(`[supervision] livemesh up, delivery SIGTERM: drained, restart delay ${termDied[3]} ms, serving new segments after ${Date.now() - termAt} ms\n`);
      expect(Number(termDied[3])).toBe(1000);
      const { code } = await encoder;
      expect(code).toBe(0);
    }, 90_000);
  });
  describe('livemesh up SIGKILLed', () => {
    let mesh: UpMesh;
    const pids: number[] = [];

    beforeAll(async () => {
      mesh = await startUp();
    });

    afterAll(async () => {
      // Should the feature be broken, the components and workers are orphans nothing else stops.
      for (const pid of pids) if (alive(pid)) process.kill(pid, 'SIGKILL');
      await mesh?.nats.stop();
      if (mesh) await rm(mesh.dataDir, { recursive: true, force: true });
    });

    it('leaves no component and no worker running: each notices its supervisor is gone and stops', async () => {
      const res = await authFetch(`http://127.0.0.1:${mesh.env.HTTP_PORT}/api/streams`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ id: 'sup-orphans' }) }, mesh.token);
      expect(res.status).toBe(201);
      const workers = await waitFor('the stream\'s workers', 20_000, () => {
        const found = [...workerPids(mesh.nats.url).values()].flat();
        return found.length > 0 ? found : undefined;
      });
      const components: Record<string, number> = {};
      for (const name of ['orchestrator', 'delivery', 'ingest']) components[name] = await componentPid(mesh.up, name);
      pids.push(...Object.values(components), ...workers);

      const killedAt = Date.now();
      process.kill(mesh.up.pid!, 'SIGKILL');
      await mesh.up.exited;
      const goneMs = await waitFor('every component and worker to exit', 30_000, () => (pids.every((p) => !alive(p)) ? Date.now() - killedAt : undefined), {
        detail: () => `still running: ${Object.entries(components).filter(([, p]) => alive(p)).map(([n, p]) => `${n} ${p}`).concat(workers.filter(alive).map((p) => `worker ${p}`)).join(', ')}`,
      });
      process.stdout.write(`[supervision] livemesh up SIGKILL: ${Object.keys(components).length} components and ${workers.length} worker(s) gone after ${goneMs} ms\n`);
    }, 90_000);
  });
});
