// Stream keys end to end (docs/security.md, "Stream keys"): an in-process orchestrator and ingest on a
// real nats-server, real ffmpeg publishers over RTMP. The key is shown once (the create answer, the
// rotate answer, LM_KEYS for a stream a platform event started); lists, status, re-POSTs, events,
// logs and the buckets (history and key names included) never hold it; ingest takes what the
// orchestrator stored (hashes), a rotation stops the old key at once.
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { INestApplication } from '@nestjs/common';
import type { Bus } from '@livemesh/bus';
import {
  BUCKETS,
  STREAMS,
  hashStreamKey,
  loadEnv,
  subjects,
  type Env,
  type IssuedStreamKey,
  type StreamRecord,
} from '@livemesh/contracts';
import { createIngestApp } from '../../apps/ingest/src/ingest.app.js';
import { createOrchestratorApp } from '../../apps/orchestrator/src/orchestrator.app.js';
import { freePort } from '../support/free-port.js';
import { authFetch } from '../support/auth.js';
import { startInProcessOrchestrator, FakeRuntime, type InProcessOrchestrator } from '../support/in-process-orchestrator.js';
import { CapturingLogger } from '../support/logger.js';
import { generateClip, publishRtmp } from '../support/media.js';
import { waitFor } from '../support/wait.js';
import { ffmpeg } from './ingest-delivery.harness.js';

const STRONG = 'Xq7vB2kL9-mN4_pR6sT8wZ3d';

describe('stream keys: shown once, stored as hashes, rotated', () => {
  let o: InProcessOrchestrator;
  let bus: Bus;
  let ingest: INestApplication;
  let env: Env;
  let dir: string;
  let clip: string;
  let longClip: string;
  let tsClip: string;
  let vars: Record<string, string>;
  const logs = new CapturingLogger();
  /** Every plaintext key the test saw: none may be found where it must not be. */
  const secrets: string[] = [STRONG];

  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  async function api(method: string, path: string, body?: unknown): Promise<{ status: number; body: any; text: string }> {
    const res = await authFetch(o.base + path, { method, headers: body === undefined ? {} : { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined, text };
  }

  const rtmp = (key: string) => `rtmp://127.0.0.1:${env.RTMP_PORT}/live/${key}`;
  const publishings = (id: string) => o.events.filter((e) => e.streamId === id && e.kind === 'publishing').length;
  const logsOf = (id: string) => () => logs.text().split('\n').filter((l) => l.includes(id)).slice(-15).join('\n');
  const record = async (id: string) => (await bus.store(BUCKETS.streams).get(id))?.value as StreamRecord | undefined;

  /** Subject and body of every message a JetStream stream still stores. */
  async function storedText(stream: string): Promise<string> {
    const info = await bus.streamInfo(stream);
    const out: string[] = [];
    for (let seq = info.firstSeq; seq <= info.lastSeq && info.messages > 0; seq++) {
      const m = await bus.getMessage(stream, { seq });
      if (m) out.push(`${m.subject} ${m.string()}`);
    }
    return out.join('\n');
  }

  /** Command lines of this machine's processes that hold `text`, apart from those holding `except`. */
  async function argvHolding(text: string, except: string): Promise<string[]> {
    const found: string[] = [];
    for (const pid of (await readdir('/proc')).filter((p) => /^\d+$/.test(p))) {
      const argv = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
      if (argv.includes(text) && !argv.includes(except)) found.push(argv.replaceAll('\0', ' '));
    }
    return found;
  }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'livemesh-keys-e2e-'));
    const rtmpPort = await freePort();
    // SRT on: published streams get a listener whose passphrase is their key (a random port block,
    // so suites running side by side do not reach for the same ports).
    const srtFirst = 31_000 + Math.floor(Math.random() * 900) * 10;
    vars = { RTMP_PORT: String(rtmpPort), LIVEMESH_DATA_DIR: join(dir, 'data'), LIVEMESH_PUBLIC_HOST: '127.0.0.1', SRT_PORT_RANGE: `${srtFirst}-${srtFirst + 9}` };
    o = await startInProcessOrchestrator('stream-keys-e2e', vars);
    bus = o.bus;
    env = loadEnv({ NATS_URL: o.nats.url, INGEST_HTTP_PORT: String(await freePort()), LOG_LEVEL: 'debug', ...vars });
    ingest = await createIngestApp(env);
    // Process-wide: the orchestrator's lines land here too, so the log scan covers both.
    ingest.useLogger(logs);
    await ingest.listen(env.INGEST_HTTP_PORT, '127.0.0.1');
    [clip, longClip, tsClip] = await Promise.all([
      generateClip({ seconds: 2, width: 160, height: 120, fps: 15, out: join(dir, 'short.flv') }),
      generateClip({ seconds: 12, width: 160, height: 120, fps: 15, out: join(dir, 'long.flv') }),
      generateClip({ seconds: 3, width: 160, height: 120, fps: 15, out: join(dir, 'short.ts') }),
    ]);
  }, 60_000);

  afterAll(async () => {
    await ingest?.close();
    await o?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('answers the key once, in the create answer: not in the list, the status or a second POST', async () => {
    const created = await api('POST', '/api/streams', { id: 'k-1', stages: [{ service: 'passthrough' }] });
    expect(created.status).toBe(201);
    const key = created.body.publish.key as string;
    secrets.push(key);
    expect(key).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(created.body.publish.rtmp).toBe(rtmp(key));

    const list = await api('GET', '/api/streams');
    const one = await api('GET', '/api/streams/k-1');
    const again = await api('POST', '/api/streams', { id: 'k-1', stages: [{ service: 'passthrough' }] });
    expect(again.status).toBe(200);
    for (const answer of [list, one, again]) expect(answer.text).not.toContain(key);
    for (const answer of [one, again]) {
      expect(answer.body.publish.rtmp).toBe(`rtmp://127.0.0.1:${env.RTMP_PORT}/live`);
      expect(answer.body.publish).not.toHaveProperty('key');
    }

    const stored = await record('k-1');
    expect(stored).toMatchObject({ keyHash: hashStreamKey(key) });
    expect(stored).not.toHaveProperty('key');
    expect((await bus.store(BUCKETS.keys).get(hashStreamKey(key)))?.value).toEqual({ streamId: 'k-1' });
  });

  it('refuses a weak platform key with 422 LM_WEAK_STREAM_KEY, says why without echoing it, and writes nothing', async () => {
    const weak = 'abcdefghijklmnopqrstuvwxyz';
    const res = await api('POST', '/api/streams', { id: 'k-weak', publish: { key: weak } });
    expect(res.status).toBe(422);
    expect(res.body).toMatchObject({ code: 'LM_WEAK_STREAM_KEY', problems: expect.arrayContaining([expect.stringMatching(/at least 2 character classes/), expect.stringMatching(/estimated at \d+ bits/)]) });
    expect(res.text).not.toContain(weak);
    expect(await record('k-weak')).toBeUndefined();
    expect(await bus.store(BUCKETS.keys).get(hashStreamKey(weak))).toBeUndefined();
    expect(o.events.filter((e) => e.streamId === 'k-weak')).toEqual([]);

    // The same by platform event: a 'failed' event with the code, no record, and the event (which
    // carried the key) no longer in LM_EVT.
    const ack = await bus.publish(subjects.platformStarted, JSON.stringify({ id: 'k-weak-ev', publish: { key: 'short-Key-1' } }));
    const failed = await waitFor('the failed event', 15_000, () => o.events.find((e) => e.streamId === 'k-weak-ev' && e.kind === 'failed'));
    expect(failed).toMatchObject({ data: { code: 'LM_WEAK_STREAM_KEY', final: true } });
    expect(await record('k-weak-ev')).toBeUndefined();
    await waitFor('the key-carrying event to leave LM_EVT', 5_000, async () => (await bus.getMessage(STREAMS.events, { seq: ack.seq })) === undefined);
    secrets.push('short-Key-1');
  });

  it("takes a platform's strong key, keeps only its hash, and ingest accepts an RTMP publish with it", async () => {
    const res = await api('POST', '/api/streams', { id: 'k-plat', stages: [{ service: 'passthrough' }], publish: { key: STRONG } });
    expect(res.status).toBe(201);
    expect(res.body.publish).toMatchObject({ key: STRONG, rtmp: rtmp(STRONG) });
    expect((await record('k-plat'))!.request).not.toHaveProperty('publish');
    const pushed = await publishRtmp(clip, rtmp(STRONG), { realtime: true, timeoutMs: 30_000 });
    expect(pushed).toEqual({ code: 0, stderr: '' });
    await waitFor('a publishing event of k-plat', 10_000, () => publishings('k-plat') > 0, { detail: logsOf('k-plat') });
  });

  it('rotates a key: the answer holds the new one, a publish with the old one is closed and refused, the new one works', async () => {
    const created = await api('POST', '/api/streams', { id: 'k-rot', stages: [{ service: 'passthrough' }] });
    const oldKey = created.body.publish.key as string;
    secrets.push(oldKey);
    const started = Date.now();
    const live = publishRtmp(longClip, rtmp(oldKey), { realtime: true, timeoutMs: 30_000 });
    await waitFor('a publishing event of k-rot', 15_000, () => publishings('k-rot') > 0);
    // Ingest's segmenter is running for it: no process but the test's own publisher has the key in
    // its arguments, apart from the stream's SRT listener (the limit docs/security.md states).
    const readers = await argvHolding(`rtmp://127.0.0.1:${env.RTMP_PORT}/live/`, longClip);
    expect(readers.length).toBeGreaterThan(0);
    expect((await argvHolding(oldKey, longClip)).filter((argv) => !argv.includes('mode=listener'))).toEqual([]);

    const rotated = await api('POST', '/api/streams/k-rot/key', {});
    expect(rotated.status).toBe(200);
    const newKey = rotated.body.publish.key as string;
    secrets.push(newKey);
    expect(newKey).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(newKey).not.toBe(oldKey);
    expect(rotated.body.publish.rtmp).toBe(rtmp(newKey));
    expect((await api('GET', '/api/streams/k-rot')).text).not.toContain(newKey);
    expect((await record('k-rot'))!.keyHash).toBe(hashStreamKey(newKey));
    expect(await bus.store(BUCKETS.keys).get(hashStreamKey(oldKey))).toBeUndefined();

    // The publisher on the old key is cut off well before its 12 s clip ends.
    const cut = await live;
    expect(Date.now() - started).toBeLessThan(11_000);
    expect(cut.code).not.toBe(0);
    expect(logs.text()).toMatch(new RegExp(`stream k-rot: closing its RTMP publisher: key #${hashStreamKey(oldKey).slice(0, 8)} was withdrawn`));

    const refused = await publishRtmp(longClip, rtmp(oldKey), { realtime: true, timeoutMs: 30_000 });
    expect(refused.code).not.toBe(0);
    expect(logs.text()).toMatch(new RegExp(`publish refused: key #${hashStreamKey(oldKey).slice(0, 8)} \\(hash prefix\\) is owned by no started stream`));

    const before = publishings('k-rot');
    expect(await publishRtmp(clip, rtmp(newKey), { realtime: true, timeoutMs: 30_000 })).toEqual({ code: 0, stderr: '' });
    await waitFor('a publishing event with the new key', 10_000, () => publishings('k-rot') > before);

    // A weak key chosen for the rotation is refused and changes nothing.
    const weak = await api('POST', '/api/streams/k-rot/key', { key: 'aaaaaaaaaaaaaaaaaaaaaaaaaaaa' });
    expect(weak.status).toBe(422);
    expect((await record('k-rot'))!.keyHash).toBe(hashStreamKey(newKey));
  }, 60_000);

  it('hands the generated key of a stream a platform event started out on lm.keys.issued.<id> (LM_KEYS), not on LM_EVT', async () => {
    await bus.publish(subjects.platformStarted, JSON.stringify({ id: 'k-ev', stages: [{ service: 'passthrough' }] }));
    const issued = await waitFor('the issued key', 15_000, async () => (await bus.getMessage(STREAMS.keys, { lastBySubject: subjects.keyIssued('k-ev') }))?.json<IssuedStreamKey>(), { retryErrors: true });
    secrets.push(issued.key);
    expect(issued).toMatchObject({ streamId: 'k-ev', rtmp: rtmp(issued.key) });
    expect((await record('k-ev'))!.keyHash).toBe(hashStreamKey(issued.key));
    expect((await bus.store(BUCKETS.keys).get(hashStreamKey(issued.key)))?.value).toEqual({ streamId: 'k-ev' });
    expect(await storedText(STREAMS.events)).not.toContain(issued.key);
  });

  it('rewrites a record written before keys were hashed at boot: hash kept, plaintext gone from both buckets, the key still publishes', async () => {
    const legacy = 'legacy-Key-0123456789abcdef';
    secrets.push(legacy);
    const now = new Date().toISOString();
    await bus.store(BUCKETS.keys).put(legacy, { streamId: 'k-old' });
    const hop = { index: 0, service: 'passthrough', params: {}, subject: subjects.segment('passthrough', 'k-old', 0), next: null };
    await bus.store(BUCKETS.chains).put('k-old', { streamId: 'k-old', version: 1, hops: [hop], updatedAt: now });
    await bus.store(BUCKETS.streams).put('k-old', { id: 'k-old', state: 'live', key: legacy, request: { id: 'k-old' }, chainVersion: 1, createdAt: now, updatedAt: now, errors: [] } as unknown as StreamRecord);
    await bus.store(BUCKETS.streams).put('k-old', { id: 'k-old', state: 'live', key: legacy, request: { id: 'k-old' }, chainVersion: 1, createdAt: now, updatedAt: now, errors: [{ at: now, message: 'x' }] } as unknown as StreamRecord);

    // Another orchestrator booting on the same bus migrates.
    const second = await createOrchestratorApp(loadEnv({ NATS_URL: o.nats.url, HTTP_PORT: String(await freePort()), ...vars }), { runtime: new FakeRuntime(), logger: ['error'] });
    await second.init();
    await second.close();

    expect(await record('k-old')).toMatchObject({ keyHash: hashStreamKey(legacy) });
    expect(await record('k-old')).not.toHaveProperty('key');
    expect((await bus.store(BUCKETS.keys).get(hashStreamKey(legacy)))?.value).toEqual({ streamId: 'k-old' });
    expect(await storedText(`KV_${BUCKETS.streams}`)).not.toContain(legacy);
    expect(await storedText(`KV_${BUCKETS.keys}`)).not.toContain(legacy);
    expect(await publishRtmp(clip, rtmp(legacy), { realtime: true, timeoutMs: 30_000 })).toEqual({ code: 0, stderr: '' });
    await waitFor('a publishing event of k-old', 10_000, () => publishings('k-old') > 0, { detail: logsOf('k-old') });
  });

  it('seals the SRT passphrase for ingest: the record holds ciphertext, ingest listens with the key as passphrase', async () => {
    const created = await api('POST', '/api/streams', { id: 'k-srt', stages: [{ service: 'passthrough' }] });
    const key = created.body.publish.key as string;
    secrets.push(key);
    // The orchestrator made the ingest secret, readable by its user only.
    expect((await stat(join(dir, 'data', 'ingest.secret'))).mode & 0o777).toBe(0o600);
    const sealed = (await record('k-srt'))!.srtPassphrase;
    expect(sealed).toMatchObject({ v: 1, iv: expect.any(String), tag: expect.any(String), data: expect.any(String) });
    expect(JSON.stringify(sealed)).not.toContain(key);
    const view = await waitFor('the SRT listener in the status', 15_000, async () => {
      const v = (await api('GET', '/api/streams/k-srt')).body as { publish: { srt?: string } };
      return v.publish.srt ? v : undefined;
    }, { detail: logsOf('k-srt') });
    expect(view.publish.srt).toMatch(/^srt:\/\/127\.0\.0\.1:\d+$/);
    const pushed = await ffmpeg(['-re', '-i', tsClip, '-c', 'copy', '-f', 'mpegts', `${view.publish.srt}?streamid=${key}&passphrase=${key}`], 30_000).done;
    expect(pushed).toEqual({ code: 0, stderr: '' });
    await waitFor('an SRT publishing event of k-srt', 10_000, () => o.events.some((e) => e.streamId === 'k-srt' && e.kind === 'publishing' && (e.data as { source?: string }).source === 'srt'), { detail: logsOf('k-srt') });

    // A rotation restarts the listener with the new key as passphrase: the old key no longer connects.
    const rotated = await api('POST', '/api/streams/k-srt/key', {});
    const newKey = rotated.body.publish.key as string;
    secrets.push(newKey);
    // Its SRT port is not in the answer (the listener restarts, maybe on another port); GET shows it once it is up.
    expect(rotated.body.publish).not.toHaveProperty('srt');
    await waitFor('the SRT listener with the new passphrase', 10_000, () => logs.text().includes(`(passphrase = key "#${hashStreamKey(newKey).slice(0, 8)}")`), { detail: logsOf('k-srt') });
    const srt = ((await api('GET', '/api/streams/k-srt')).body as { publish: { srt: string } }).publish.srt;
    const refused = await ffmpeg(['-re', '-i', tsClip, '-c', 'copy', '-f', 'mpegts', `${srt}?streamid=${key}&passphrase=${key}`], 15_000).done;
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/REJECT.*Incorrect passphrase/);
  }, 40_000);

  it('leaves no plaintext key in the buckets (values, history, key names), the events or the logs', async () => {
    const [streams, keys, events] = await Promise.all([storedText(`KV_${BUCKETS.streams}`), storedText(`KV_${BUCKETS.keys}`), storedText(STREAMS.events)]);
    expect(streams).toContain('k-rot');
    for (const key of secrets) {
      expect(streams).not.toContain(key);
      expect(keys).not.toContain(key);
      expect(events).not.toContain(key);
      expect(logs.text()).not.toContain(key);
    }
  });
});
