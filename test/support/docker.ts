// Docker-backed suites run against a real engine (docs/design.md, "Tests talk to real things").
// Where none answers they are skipped with one line saying why, except in CI, where
// LIVEMESH_REQUIRE_DOCKER=1 turns the missing engine into a failing test.
import { spawnSync } from 'node:child_process';
import { holdDockerEngine } from './docker-lock.js';

export type DockerAvailability = { ok: true } | { ok: false; why: string };

const DEFAULT_HOST = 'unix:///var/run/docker.sock';

/** DOCKER_HOST (default unix:///var/run/docker.sock), as the engine API would be addressed. */
export function dockerHost(): string {
  return process.env.DOCKER_HOST || DEFAULT_HOST;
}

// Pings the engine at DOCKER_HOST (`GET /_ping`, expects 200 "OK"; unix:// and tcp:// hosts) from a
// child Node process, as plain JavaScript: a function's toString() would carry whatever the test
// transpiler or coverage instrumentation put into it.
const PING_SCRIPT = `
const http = require('node:http');
const host = process.argv[1];
let target;
if (host.startsWith('unix://')) target = { socketPath: host.slice(7) };
else { const u = new URL(host.replace(/^tcp:/, 'http:')); target = { host: u.hostname, port: Number(u.port || 2375) }; }
const done = (r) => { process.stdout.write(JSON.stringify(r)); process.exit(0); };
const req = http.request({ ...target, path: '/_ping', method: 'GET', timeout: 3000 }, (res) => {
  let body = '';
  res.setEncoding('utf8');
  res.on('data', (c) => (body += c));
  res.on('end', () => done(res.statusCode === 200 && body.trim() === 'OK'
    ? { ok: true }
    : { ok: false, why: 'no Docker engine at ' + host + ': GET /_ping -> HTTP ' + res.statusCode + ' ' + body.trim().slice(0, 80) }));
});
req.on('timeout', () => req.destroy(new Error('no answer within 3000 ms')));
req.on('error', (err) => done({ ok: false, why: 'no Docker engine at ' + host + ': ' + err.message }));
req.end();
`;

let cached: DockerAvailability | undefined;

/** How long a Docker suite may wait for another to finish with the engine (the slowest takes ~2 min). */
const DOCKER_LOCK_WAIT_MS = 15 * 60_000;

/**
 * Whether an engine answers, synchronously, so describeDocker can register its suite while the test file
 * loads (jest collects describe blocks synchronously). Runs the ping in a child Node process.
 */
export function dockerAvailableSync(): DockerAvailability {
  if (cached) return cached;
  const host = dockerHost();
  if (!/^(unix|tcp|http):\/\//.test(host)) return (cached = { ok: false, why: `DOCKER_HOST=${host} is not a unix:// or tcp:// address` });
  const r = spawnSync(process.execPath, ['-e', PING_SCRIPT, host], { encoding: 'utf8', timeout: 10_000 });
  try {
    cached = JSON.parse(r.stdout) as DockerAvailability;
  } catch {
    cached = { ok: false, why: `could not check for a Docker engine at ${host}: ${(r.error?.message ?? r.stderr.trim()) || 'no output'}` };
  }
  return cached;
}

/**
 * `describe` for suites that need a Docker engine; one such suite at a time holds the engine
 * (docker-lock.ts). Without one: `describe.skip` and one line
 * "skipping <title>: <why>", or, with LIVEMESH_REQUIRE_DOCKER=1, a failing test whose message is why.
 */
export function describeDocker(title: string, fn: () => void): void {
  const available = dockerAvailableSync();
  if (available.ok) {
    describe(title, () => {
      // Jest runs hooks of one block in the order they are declared: the lock is taken before the
      // suite's own beforeAll and let go after its own afterAll (its clean-up included).
      let release: (() => Promise<void>) | undefined;
      beforeAll(async () => {
        release = await holdDockerEngine(title);
      }, DOCKER_LOCK_WAIT_MS);
      fn();
      afterAll(() => release?.());
    });
    return;
  }
  if (process.env.LIVEMESH_REQUIRE_DOCKER === '1') {
    describe(title, () => {
      it('needs a Docker engine (LIVEMESH_REQUIRE_DOCKER=1)', () => {
        throw new Error(available.why);
      });
    });
    return;
  }
  // Straight to stderr: jest's console capture would wrap the one line in a block with a stack trace.
  process.stderr.write(`skipping ${title}: ${available.why}\n`);
  describe.skip(title, fn);
}
