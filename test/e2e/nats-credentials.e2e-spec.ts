// NATS with least privilege (docs/security.md, "NATS credentials"), on a real nats-server with
// JWT auth as `livemesh up` configures it. The negative matrix: with a worker's credential, and
// with the platform's, each forbidden operation is tried with a raw client, and the count of
// those that went through (asked the server and checked afterwards with an admin connection) is
// 0; the allowed operations are tried on the same connection and must succeed, so the matrix
// cannot pass through a dead connection. Then the whole mesh runs the default chain with every
// component on its own credential (workers on the ones the orchestrator mints).
import { execFileSync } from 'node:child_process';
import { mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Bus, busAuthFromEnv, ensureServiceConsumer, ensureTopology, topologyFromEnv } from '@livemesh/bus';
import { BUCKETS, KEYS_ISSUED_STREAM, STREAMS, consumers, loadEnv, natsInboxPrefix, subjects, type NatsIdentity } from '@livemesh/contracts';
import { assertContinuous, generateClip, probeHls, publishRtmp } from '../support/media.js';
import { startMesh, waitForSegments, type Mesh } from '../support/mesh.js';
import { startNatsServer, type NatsServer } from '../support/nats-server.js';
import { attempts, facts, probeConnect, succeeds, type Attempt, type Probe } from '../support/nats-probe.js';

const SERVICE = 'watermark';
const OTHER = 'othersvc';
const worker: NatsIdentity = { role: 'worker', service: SERVICE, workerId: 'probe' };
const otherWorker: NatsIdentity = { role: 'worker', service: OTHER, workerId: 'w1' };
const platform: NatsIdentity = { role: 'platform' };

/** Runs each attempt; returns the names of those that went through. */
async function through(list: [string, Attempt][]): Promise<string[]> {
  const out: string[] = [];
  for (const [name, attempt] of list) if (await succeeds(attempt)) out.push(name);
  return out;
}

describe('NATS credentials: the negative matrix', () => {
  let nats: NatsServer;
  let admin: Probe;
  let bus: Bus;

  beforeAll(async () => {
    nats = await startNatsServer({ auth: true });
    const orchestratorCreds = await nats.auth!.credsFile({ role: 'orchestrator' });
    bus = await Bus.connect({ url: nats.url, name: 'matrix-orchestrator', credsFile: orchestratorCreds });
    await ensureTopology(bus, topologyFromEnv(loadEnv({})));
    await ensureServiceConsumer(bus, SERVICE, { ackWaitMs: 5_000, maxDeliver: 3 });
    await ensureServiceConsumer(bus, OTHER, { ackWaitMs: 5_000, maxDeliver: 3 });
    admin = await probeConnect(nats.url, orchestratorCreds);
    // One key in the stream of issued one-time keys (the topology made it).
    await attempts.jsPublish(admin, subjects.keyIssued('s1'), '{"key":"k"}')();
    await attempts.kvPut(admin, BUCKETS.chains, 'matrix', '{"streamId":"matrix"}')();
    // A segment waiting for the other service: pulling it would be stealing another service's work.
    await attempts.jsPublish(admin, subjects.segment(OTHER, 'matrix', 0), 'segment')();
  });

  afterAll(async () => {
    await admin?.close();
    await bus?.close();
    await nats?.stop();
  });

  it('with a worker credential: nothing forbidden goes through, everything it needs does', async () => {
    const p = await probeConnect(nats.url, await nats.auth!.credsFile(worker), natsInboxPrefix(worker));
    const otherInbox = `${natsInboxPrefix(otherWorker)}.reply`;
    try {
      const forbidden = await through([
        ['write the catalogue', attempts.kvPut(p, BUCKETS.catalogue, 'service.evil')],
        ['write the keys bucket', attempts.kvPut(p, BUCKETS.keys, 'evil-key', '{"streamId":"x"}')],
        ['write a chain', attempts.kvPut(p, BUCKETS.chains, 'matrix', '{}')],
        ['write the streams bucket', attempts.kvPut(p, BUCKETS.streams, 'evil')],
        ['create a stream', attempts.createStream(p, 'EVIL', 'evil.>')],
        ['delete a stream', attempts.deleteStream(p, STREAMS.output)],
        ['purge the segment stream', attempts.purgeStream(p, STREAMS.segments)],
        ['create a consumer on LM_SEG', attempts.createConsumer(p, STREAMS.segments, 'evil', subjects.allSegments)],
        ['delete its own consumer', attempts.deleteConsumer(p, STREAMS.segments, consumers.service(SERVICE))],
        ['publish a platform event (JetStream)', attempts.jsPublish(p, subjects.platformStarted, '{"id":"evil"}')],
        ['publish a platform event (core)', attempts.corePublish(p, subjects.platformStopped, async () => (await facts.messages(admin, STREAMS.events, subjects.platformAll)) > 0)],
        ["pull another service's consumer", attempts.pull(p, STREAMS.segments, consumers.service(OTHER))],
        ["read another service's inbox", attempts.listen(p, `${natsInboxPrefix(otherWorker)}.>`, async () => admin.nc.publish(otherInbox, 'reply'))],
        ["read the default inbox", attempts.listen(p, '_INBOX.>', async () => admin.nc.publish('_INBOX.x', 'reply'))],
        ["write another worker's heartbeat", attempts.kvPut(p, BUCKETS.workers, `${SERVICE}.other`)],
        ["write another service's heartbeat", attempts.kvPut(p, BUCKETS.workers, `${OTHER}.probe`)],
        ["dead-letter as another service", attempts.jsPublish(p, subjects.deadLetter(OTHER, 'matrix'))],
        ['listen to segments on the side', attempts.listen(p, subjects.allSegments, async () => admin.nc.publish(subjects.segment('nobody', 'x', 0), 'x'))],
      ]);
      expect(forbidden).toEqual([]);
      // And nothing it tried left a trace.
      expect(await facts.streamExists(admin, 'EVIL')).toBe(false);
      expect(await facts.streamExists(admin, STREAMS.output)).toBe(true);
      expect(await facts.consumerExists(admin, STREAMS.segments, 'evil')).toBe(false);
      expect(await facts.consumerExists(admin, STREAMS.segments, consumers.service(SERVICE))).toBe(true);
      expect(await facts.messages(admin, STREAMS.events, subjects.platformAll)).toBe(0);
      expect(await facts.messages(admin, STREAMS.segments, subjects.serviceFilter(OTHER))).toBe(1);
      expect(await succeeds(attempts.kvGet(admin, BUCKETS.catalogue, 'service.evil'))).toBe(false);
      expect(await succeeds(attempts.kvGet(admin, BUCKETS.keys, 'evil-key'))).toBe(false);

      const allowed = await through([
        ['read a chain', attempts.kvGet(p, BUCKETS.chains, 'matrix')],
        ['write its own heartbeat', attempts.kvPut(p, BUCKETS.workers, `${SERVICE}.probe`)],
        ['write a carry key', attempts.kvPut(p, BUCKETS.carry, 'matrix.0.main')],
        ['inspect its own consumer', attempts.consumerInfo(p, STREAMS.segments, consumers.service(SERVICE))],
        ['publish a segment', attempts.jsPublish(p, subjects.segment(SERVICE, 'matrix', 1), 'segment')],
        ['pull its own consumer', attempts.pull(p, STREAMS.segments, consumers.service(SERVICE))],
        ['publish output', attempts.jsPublish(p, subjects.output('matrix', 'main'), 'segment')],
        ['dead-letter its own', attempts.jsPublish(p, subjects.deadLetter(SERVICE, 'matrix'))],
        ['publish a stream event', attempts.jsPublish(p, subjects.streamEvent('matrix', 'segment-failed'))],
        ['listen on its own inbox', attempts.listen(p, `${natsInboxPrefix(worker)}.>`, async () => admin.nc.publish(`${natsInboxPrefix(worker)}.x`, 'reply'))],
      ]);
      expect(allowed).toHaveLength(10);
      // The refusals came from the server's permissions, not from a broken connection.
      expect(p.violations.join('\n')).toMatch(/Permissions Violation/);
      expect(p.nc.isClosed()).toBe(false);
    } finally {
      await p.close();
    }
  });

  it('with the platform credential: platform events and issued keys only', async () => {
    const p = await probeConnect(nats.url, await nats.auth!.credsFile(platform), natsInboxPrefix(platform));
    try {
      const forbidden = await through([
        ['publish a stream event', attempts.jsPublish(p, subjects.streamEvent('s1', 'ended'))],
        ['publish a segment', attempts.jsPublish(p, subjects.segment(SERVICE, 's1', 0), 'x')],
        ['publish output', attempts.jsPublish(p, subjects.output('s1', 'main'), 'x')],
        ['write the catalogue', attempts.kvPut(p, BUCKETS.catalogue, 'service.evil')],
        ['read the keys bucket', attempts.kvGet(p, BUCKETS.keys, 'k')],
        ['read a chain', attempts.kvGet(p, BUCKETS.chains, 'matrix')],
        ['create a stream', attempts.createStream(p, 'EVIL2', 'evil2.>')],
        ['create a consumer on LM_SEG', attempts.createConsumer(p, STREAMS.segments, 'evil', subjects.allSegments)],
        ['create a consumer on LM_OUT', attempts.createConsumer(p, STREAMS.output, 'evil', subjects.allOutput)],
        ["pull a service's consumer", attempts.pull(p, STREAMS.segments, consumers.service(OTHER))],
        ['listen to status events', attempts.listen(p, subjects.streamEvents(), async () => admin.nc.publish(subjects.streamEvent('s1', 'ended'), '{}'))],
      ]);
      expect(forbidden).toEqual([]);
      expect(await facts.streamExists(admin, 'EVIL2')).toBe(false);
      expect(await facts.consumerExists(admin, STREAMS.output, 'evil')).toBe(false);

      const allowed = await through([
        ['publish a platform event', attempts.jsPublish(p, subjects.platformStarted, '{"id":"from-platform"}')],
        ['create a consumer on LM_KEYS', attempts.createConsumer(p, KEYS_ISSUED_STREAM, 'platform', 'lm.keys.issued.>')],
        ['read an issued key', attempts.pull(p, KEYS_ISSUED_STREAM, 'platform')],
      ]);
      expect(allowed).toEqual(['publish a platform event', 'create a consumer on LM_KEYS', 'read an issued key']);
      expect(await facts.messages(admin, STREAMS.events, subjects.platformAll)).toBe(1);
      expect(p.nc.isClosed()).toBe(false);
    } finally {
      await p.close();
    }
  });

  it('refuses a connection without a credential, and one minted by another mesh', async () => {
    await expect(probeConnect(nats.url)).rejects.toThrow(/Authorization Violation/i);
    const stranger = await startNatsServer({ auth: true });
    try {
      const foreign = await stranger.auth!.credsFile({ role: 'orchestrator' });
      await expect(probeConnect(nats.url, foreign)).rejects.toThrow(/Authorization Violation/i);
      await expect(Bus.connect({ url: nats.url, name: 'stranger', credsFile: foreign, connectTimeoutMs: 3_000 })).rejects.toThrow(/refused the credentials/);
    } finally {
      await stranger.stop();
    }
  });
});

describe('NATS credentials over TLS', () => {
  let dir: string;
  let nats: NatsServer;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'livemesh-tls-'));
    const sh = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
    // A CA and a server certificate for 127.0.0.1, as an operator would make them.
    sh(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '1', '-subj', '/CN=livemesh test CA']);
    sh(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1']);
    await writeFile(join(dir, 'san.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
    sh(['x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.pem', '-days', '1', '-extfile', 'san.ext']);
    nats = await startNatsServer({ auth: true, extraArgs: ['--tls', '--tlscert', join(dir, 'server.pem'), '--tlskey', join(dir, 'server.key')] });
  });

  afterAll(async () => {
    await nats?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('connects with NATS_TLS_CA and a credential, and not without the CA', async () => {
    const creds = await nats.auth!.credsFile({ role: 'orchestrator' });
    const bus = await Bus.connect({ url: nats.url, name: 'tls', ...busAuthFromEnv({ NATS_CREDS: creds, NATS_TLS_CA: join(dir, 'ca.pem') }) });
    try {
      await bus.flush();
      expect(await bus.rtt()).toBeGreaterThanOrEqual(0);
    } finally {
      await bus.close();
    }
    await expect(Bus.connect({ url: nats.url, name: 'no-ca', credsFile: creds, connectTimeoutMs: 2_000 })).rejects.toThrow(/cannot connect|refused/);
  });
});

describe('NATS credentials: the mesh on its own credentials', () => {
  let mesh: Mesh;
  let dir: string;
  let clip: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'livemesh-creds-'));
    clip = await generateClip({ seconds: 10, width: 640, height: 360, fps: 25, out: join(dir, 'src.flv') });
    mesh = await startMesh({}, { natsAuth: true });
  });

  afterAll(async () => {
    await mesh?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('runs the default chain to continuous output, each worker on a credential of its own', async () => {
    const stream = await mesh.startStream({ id: 'creds' });
    expect(stream.chain.hops.map((h) => h.service)).toEqual(['watermark', 'transcode']);
    const encoder = publishRtmp(clip, stream.publish.rtmp, { realtime: true });
    const { code, stderr } = await encoder;
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    await waitForSegments(stream.playback.hls, 4, 30_000);
    const hls = await probeHls(stream.playback.hls);
    assertContinuous(hls, { size: { width: 854, height: 480 }, audio: true, minSegments: 4 });
    // Each worker got its own credential file (0600) from the orchestrator.
    const credsDir = join(mesh.env.LIVEMESH_DATA_DIR!, 'nats', 'creds');
    const files = await readdir(credsDir);
    // One worker per hop that runs (a hop fused into the one before runs in that hop's worker).
    const running = stream.chain.hops.filter((h) => h.fusedInto === undefined).map((h) => h.service);
    expect(running.length).toBeGreaterThanOrEqual(1);
    for (const service of running) {
      const mine = files.filter((f) => f.startsWith(`worker.${service}.`) && f.endsWith('.creds'));
      expect(mine.length).toBeGreaterThanOrEqual(1);
      for (const f of mine) expect(((await stat(join(credsDir, f))).mode & 0o777).toString(8)).toBe('600');
    }
    // Nobody in the mesh was refused anything it needed.
    expect(mesh.nats.logs()).not.toMatch(/Violation/);
  });
});
