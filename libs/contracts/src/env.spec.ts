import { readFileSync } from 'node:fs';
import { ConfigError } from './errors.js';
import { ENV_GROUPS, ENV_VARIABLES, PROCESS_GROUPS, configurationTable, envWasSet, loadEnv, loadProcessEnv, workerHandOver, type ProcessName } from './env.js';

const PROCESSES = Object.keys(PROCESS_GROUPS) as ProcessName[];

function configError(f: () => unknown): ConfigError {
  try {
    f();
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error('expected a ConfigError');
}

describe('loadEnv', () => {
  it('gives the documented defaults for an empty environment', () => {
    const env = loadEnv({});
    expect(env).toMatchObject({ NATS_URL: 'nats://127.0.0.1:4222', HTTP_PORT: 8080, RTMP_PORT: 1935, LIVEMESH_RUNTIME: 'process', SEGMENT_SECONDS: 2 });
  });

  it('converts numbers and keeps what was set', () => {
    const env = loadEnv({ HTTP_PORT: '9090', LIVEMESH_RUNTIME: 'docker', NATS_URL: 'nats://10.0.0.1:4222' });
    expect(env.HTTP_PORT).toBe(9090);
    expect(env.LIVEMESH_RUNTIME).toBe('docker');
  });

  it('refuses the environment naming every bad variable at once: its name, its value, what it must be, and the process', () => {
    const e = configError(() => loadProcessEnv('orchestrator', { HTTP_PORT: 'eighty', LIVEMESH_RUNTIME: 'kubernetes', NATS_URL: 'localhost', STAGE_ACK_WAIT_MS: '10' }));
    expect(e.message).toMatch(/^the orchestrator's environment is invalid: /);
    expect(e.problems.sort()).toEqual([
      'HTTP_PORT="eighty": must be a port number 1-65535',
      'LIVEMESH_RUNTIME="kubernetes": must be one of process, docker, swarm, k8s',
      'NATS_URL="localhost": must be a URL like nats://host:port (several comma-separated), or unix:///path of a bus relay socket',
      'STAGE_ACK_WAIT_MS="10": must be a whole number of milliseconds, 1000-600000',
    ]);
  });

  it('never repeats the value of a secret it refuses', () => {
    const e = configError(() => loadProcessEnv('orchestrator', { LIVEMESH_ADMIN_TOKEN: 'hunter2-leaked', LIVEMESH_PLAYBACK_SECRET: 'abc123' }));
    expect(e.message).not.toMatch(/hunter2|abc123/);
    expect(e.problems).toHaveLength(2);
    expect(e.problems).toContain('LIVEMESH_PLAYBACK_SECRET (value not shown): must be 64 hex digits (32 bytes), or empty');
    expect(e.problems).toContainEqual(expect.stringMatching(/^LIVEMESH_ADMIN_TOKEN \(value not shown\): must be lm_<id>_<secret>/));
  });

  it('takes the absolute unix:// socket of a bus relay as NATS_URL, nothing else of that scheme', () => {
    expect(loadEnv({ NATS_URL: 'unix:///run/livemesh-bus/nats.sock' }).NATS_URL).toBe('unix:///run/livemesh-bus/nats.sock');
    expect(() => loadEnv({ NATS_URL: 'unix://run/nats.sock' })).toThrow(ConfigError);
    expect(() => loadEnv({ NATS_URL: 'unix:///a.sock,nats://127.0.0.1:4222' })).toThrow(ConfigError);
    expect(loadEnv({ NATS_URL: 'nats://a:4222,nats://b:4222' }).NATS_URL).toBe('nats://a:4222,nats://b:4222');
  });

  it('takes comma lists with spaces around the commas, and refuses a bad item', () => {
    expect(loadEnv({ LIVEMESH_ALLOW_PRIVATE_SOURCES: '127.0.0.0/8, ::1/128' }).LIVEMESH_ALLOW_PRIVATE_SOURCES).toBe('127.0.0.0/8, ::1/128');
    expect(configError(() => loadEnv({ LIVEMESH_ALLOW_PRIVATE_SOURCES: '127.0.0.0/8,localhost' })).problems).toEqual([
      'LIVEMESH_ALLOW_PRIVATE_SOURCES="127.0.0.0/8,localhost": must be a comma list of CIDR ranges, e.g. 127.0.0.0/8,::1/128',
    ]);
  });

  it('tells a variable that was set from one that defaulted', () => {
    expect(envWasSet('NATS_URL', { NATS_URL: 'nats://x:1' })).toBe(true);
    expect(envWasSet('NATS_URL', { NATS_URL: '' })).toBe(false);
    expect(envWasSet('NATS_URL', {})).toBe(false);
  });
});

describe('loadProcessEnv', () => {
  it('starts the orchestrator whatever an ingest-, delivery- or worker-only variable holds, and refuses that variable in its own process', () => {
    const foreign = { INGEST_QUEUE_BYTES: 'lots', HLS_WINDOW: '1', STAGE_ENGINE: 'turbo', LIVEMESH_START_PARAMS: '[1]' };
    const orchestrator = loadProcessEnv('orchestrator', foreign);
    expect(orchestrator.HTTP_PORT).toBe(8080);
    expect(Object.keys(orchestrator)).not.toEqual(expect.arrayContaining(['INGEST_QUEUE_BYTES']));
    expect(Object.keys(orchestrator).filter((k) => k in foreign)).toEqual([]);
    expect(configError(() => loadProcessEnv('ingest', foreign)).message).toBe('the ingest\'s environment is invalid: INGEST_QUEUE_BYTES="lots": must be a whole number of bytes, 1048576-1073741824');
    expect(configError(() => loadProcessEnv('delivery', foreign)).problems).toEqual(['HLS_WINDOW="1": must be a whole number, 3-1000']);
    expect(configError(() => loadProcessEnv('worker', foreign)).problems.sort()).toEqual(['LIVEMESH_START_PARAMS="[1]": must be a JSON object', 'STAGE_ENGINE="turbo": must be one of auto, warm, cli']);
  });

  it('starts ingest, delivery and workers whatever an orchestrator-only variable holds', () => {
    const foreign = { LIVEMESH_RUNTIME: 'kubernetes', MAX_LIVE_STREAMS: '0', WORKER_NETWORK: '-', HTTP_PORT: 'eighty' };
    for (const p of ['ingest', 'delivery', 'worker'] as const) expect(() => loadProcessEnv(p, foreign)).not.toThrow();
    expect(configError(() => loadProcessEnv('orchestrator', foreign)).problems).toHaveLength(4);
  });

  it('fails exactly the processes that read a variable on its bad value, for every variable', () => {
    const BAD = 'bad \u0000 value';
    let checked = 0;
    for (const group of ENV_GROUPS) {
      for (const name of Object.keys(new group())) {
        // Free text (a host name, an image) has no bad value.
        if (!(() => { try { loadEnv({ [name]: BAD }); return false; } catch { return true; } })()) continue;
        checked++;
        const failing = PROCESSES.filter((p) => {
          try {
            loadProcessEnv(p, { [name]: BAD });
            return false;
          } catch (e) {
            return e instanceof ConfigError && e.problems.length === 1 && e.problems[0]!.startsWith(name);
          }
        });
        expect({ name, failing }).toEqual({ name, failing: PROCESSES.filter((p) => (PROCESS_GROUPS[p] as readonly unknown[]).includes(group)) });
      }
    }
    expect(checked).toBeGreaterThan(60);
  });

  it('gives each process only the variables of its own groups', () => {
    for (const p of PROCESSES) {
      const own = PROCESS_GROUPS[p].flatMap((g) => Object.keys(new g()));
      expect(Object.keys(loadProcessEnv(p, {})).sort()).toEqual([...new Set(own)].sort());
    }
  });
});

describe('workerHandOver', () => {
  it('writes what a worker reads back: service, id, start params, config, module, credential, parent', () => {
    const written = workerHandOver({
      service: 'pixelate',
      workerId: 'pixelate-1',
      startParams: { room: 'a "quoted" name', n: 2 },
      config: { blocks: 8 },
      stageModule: 'examples/pixelate.mjs',
      credsFile: '/run/secrets/worker.creds',
      parentPid: 4242,
    });
    const env = loadProcessEnv('worker', written);
    expect(env).toMatchObject({
      LIVEMESH_SERVICE: 'pixelate',
      LIVEMESH_WORKER_ID: 'pixelate-1',
      LIVEMESH_STAGE_MODULE: 'examples/pixelate.mjs',
      NATS_CREDS: '/run/secrets/worker.creds',
      LIVEMESH_PARENT_PID: 4242,
    });
    expect(JSON.parse(env.LIVEMESH_START_PARAMS)).toEqual({ room: 'a "quoted" name', n: 2 });
    expect(JSON.parse(env.LIVEMESH_SERVICE_CONFIG)).toEqual({ blocks: 8 });
    // Every name it writes is one the worker validates.
    const worker = PROCESS_GROUPS.worker.flatMap((g) => Object.keys(new g()));
    expect(Object.keys(written).filter((k) => !worker.includes(k))).toEqual([]);
  });

  it('leaves out what it was not given, and writes an empty config as {}', () => {
    expect(workerHandOver({ service: 's', workerId: 'w', startParams: {}, config: undefined })).toEqual({
      LIVEMESH_SERVICE: 's',
      LIVEMESH_WORKER_ID: 'w',
      LIVEMESH_START_PARAMS: '{}',
      LIVEMESH_SERVICE_CONFIG: '{}',
    });
  });
});

describe('the documentation of the environment', () => {
  it('lists every variable in .env.example', () => {
    const example = readFileSync(new URL('../../../.env.example', import.meta.url), 'utf8');
    const documented = new Set([...example.matchAll(/^([A-Z][A-Z0-9_]*)=/gm)].map((m) => m[1]));
    expect(ENV_VARIABLES.filter((k) => !documented.has(k))).toEqual([]);
  });

  it('has docs/configuration.md\'s table of who reads what as PROCESS_GROUPS generates it (npm run docs:config rewrites it)', () => {
    const doc = readFileSync(new URL('../../../docs/configuration.md', import.meta.url), 'utf8');
    const begin = '<!-- generated from PROCESS_GROUPS (libs/contracts/src/env.ts) by `npm run docs:config`; do not edit -->\n';
    const start = doc.indexOf(begin);
    const end = doc.indexOf('\n<!-- end of generated table -->', start);
    expect(start).toBeGreaterThan(0);
    expect(doc.slice(start + begin.length, end)).toBe(configurationTable());
  });

  it('names every variable once in that table', () => {
    const named = [...configurationTable().matchAll(/^\| [^|]+ \| ([^|]+) \|/gm)].flatMap((m) => [...m[1]!.matchAll(/`([A-Z][A-Z0-9_]+)`/g)].map((n) => n[1]));
    expect(named.sort()).toEqual([...ENV_VARIABLES].sort());
  });
});
