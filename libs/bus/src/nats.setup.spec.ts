import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '@livemesh/contracts';
import { inboxPrefixOfCreds } from './nats.auth.js';
import { parseComposeUsers, prepareComposeNats } from './nats.setup.js';

describe('parseComposeUsers', () => {
  it('reads component=uid pairs, workers by service', () => {
    expect(parseComposeUsers(['nats=10100', 'orchestrator=10001', 'ingest=10002', 'delivery=10003', 'worker.watermark=10011'])).toEqual({
      nats: 10100,
      orchestrator: 10001,
      ingest: 10002,
      delivery: 10003,
      workers: { watermark: 10011 },
    });
  });

  it('refuses root, shared uids, missing components and bad service names, naming each', () => {
    let err: unknown;
    try {
      parseComposeUsers(['nats=0', 'orchestrator=10001', 'ingest=10001', 'worker.a.b=10011', 'bogus']);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const problems = (err as ConfigError).problems.join('\n');
    expect(problems).toMatch(/"nats=0": expected <component>=<uid>/);
    expect(problems).toMatch(/"bogus": expected/);
    expect(problems).toMatch(/worker\.a\.b=10011: /);
    expect(problems).toMatch(/delivery=<uid> is missing/);
    expect(problems).toMatch(/uid 10001 is given to more than one component/);
  });
});

describe('prepareComposeNats', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lm-compose-nats-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("writes the server's configuration and one 0400 credential per component, keeping the seeds across runs", async () => {
    // Owned by this process's own uid: chown to oneself needs no privilege (the container runs it as root).
    const me = process.getuid!();
    const users = { nats: me, orchestrator: me, ingest: me, delivery: me, workers: { watermark: me } };
    const first = await prepareComposeNats(join(dir, 'auth'), join(dir, 'data', 'js'), users);
    expect(Object.keys(first.creds).sort()).toEqual(['delivery', 'ingest', 'orchestrator', 'platform', 'workers.watermark']);
    const config = await readFile(first.config, 'utf8');
    expect(config).toContain('listen: "0.0.0.0:4222"');
    expect(config).toContain(`store_dir: ${JSON.stringify(join(dir, 'data', 'js'))}`);
    expect(config).toMatch(/^operator: /m);
    for (const file of [first.config, first.signerFile, ...Object.values(first.creds)]) expect((await stat(file)).mode & 0o777).toBe(0o400);
    expect((await stat(join(dir, 'auth', 'nats-auth.json'))).mode & 0o777).toBe(0o600);
    expect((await stat(join(dir, 'data', 'js'))).mode & 0o777).toBe(0o700);
    // Each component runs as its own uid and must reach its file through both folders.
    for (const folder of [join(dir, 'auth'), join(dir, 'auth', 'creds')]) expect((await stat(folder)).mode & 0o777).toBe(0o755);
    // A Compose worker holds its service's credential, as a swarm task does.
    expect(inboxPrefixOfCreds(await readFile(first.creds['workers.watermark']!, 'utf8'))).toBe('_LM_INBOX.workers.watermark');
    expect(inboxPrefixOfCreds(await readFile(first.creds.platform!, 'utf8'))).toBe('_LM_INBOX.platform');

    // A second `up` re-mints the credentials on the same account (the seeds are kept), over the 0400 files.
    const account = async (file: string) => (JSON.parse(await readFile(file, 'utf8')) as { account: string }).account;
    const before = await account(first.signerFile);
    const second = await prepareComposeNats(join(dir, 'auth'), join(dir, 'data', 'js'), users);
    expect(await account(second.signerFile)).toBe(before);
    for (const folder of [join(dir, 'auth'), join(dir, 'auth', 'creds')]) expect((await stat(folder)).mode & 0o777).toBe(0o755);
  });
});
