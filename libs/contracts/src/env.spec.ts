import { readFileSync } from 'node:fs';
import { ConfigError } from './errors.js';
import { Env, envWasSet, loadEnv } from './env.js';

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

  it('refuses the environment naming every bad variable at once', () => {
    let error: unknown;
    try {
      loadEnv({ HTTP_PORT: 'eighty', LIVEMESH_RUNTIME: 'kubernetes', NATS_URL: 'localhost' });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems.join('\n');
    expect(problems).toMatch(/HTTP_PORT/);
    expect(problems).toMatch(/LIVEMESH_RUNTIME/);
    expect(problems).toMatch(/NATS_URL/);
  });

  it('takes the absolute unix:// socket of a bus relay as NATS_URL, nothing else of that scheme', () => {
    expect(loadEnv({ NATS_URL: 'unix:///run/livemesh-bus/nats.sock' }).NATS_URL).toBe('unix:///run/livemesh-bus/nats.sock');
    expect(() => loadEnv({ NATS_URL: 'unix://run/nats.sock' })).toThrow(ConfigError);
    expect(() => loadEnv({ NATS_URL: 'unix:///a.sock,nats://127.0.0.1:4222' })).toThrow(ConfigError);
  });

  it('tells a variable that was set from one that defaulted', () => {
    expect(envWasSet('NATS_URL', { NATS_URL: 'nats://x:1' })).toBe(true);
    expect(envWasSet('NATS_URL', { NATS_URL: '' })).toBe(false);
    expect(envWasSet('NATS_URL', {})).toBe(false);
  });

  it('is documented variable by variable in .env.example', () => {
    const example = readFileSync(new URL('../../../.env.example', import.meta.url), 'utf8');
    const documented = new Set([...example.matchAll(/^([A-Z][A-Z0-9_]*)=/gm)].map((m) => m[1]));
    const known = Object.keys(new Env());
    expect(known.filter((k) => !documented.has(k))).toEqual([]);
  });

  it('says which process reads each variable in docs/configuration.md, and names no variable Env does not have', () => {
    const doc = readFileSync(new URL('../../../docs/configuration.md', import.meta.url), 'utf8');
    const section = doc.slice(doc.indexOf('## Which process reads what'), doc.indexOf('\n## ', doc.indexOf('## Which process reads what') + 1));
    const rows = section.split('\n').filter((l) => l.startsWith('| ') && !l.startsWith('| group') && !l.startsWith('| ---'));
    const named = new Set(rows.flatMap((r) => [...(r.split(' | ')[1] ?? '').matchAll(/`([A-Z][A-Z0-9_]+)`/g)].map((m) => m[1]!)));
    const known = Object.keys(new Env());
    expect({ missing: known.filter((k) => !named.has(k)), unknown: [...named].filter((k) => !known.includes(k)) }).toEqual({ missing: [], unknown: [] });
  });
});
