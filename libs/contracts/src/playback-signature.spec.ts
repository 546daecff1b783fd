import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadPlaybackSecret, playbackSecretPath } from './ingest-secret.js';
import { StartStreamRequest } from './stream.js';
import { validateMessage } from './validate.js';
import { PLAYBACK_SIG_LENGTH, playbackPath, signPlaybackToken, verifyPlaybackToken } from './playback-signature.js';

const secret = Buffer.alloc(32, 7);
const other = Buffer.alloc(32, 8);
const NOW = 1_800_000_000;

describe('playback tokens', () => {
  it('verifies its own unexpired token, and puts it in the path before the file', () => {
    const token = signPlaybackToken(secret, 'cam1', NOW + 60);
    expect(token).toMatch(new RegExp(`^${NOW + 60}\\.[A-Za-z0-9_-]{${PLAYBACK_SIG_LENGTH}}$`));
    expect(verifyPlaybackToken(secret, 'cam1', token, NOW)).toEqual({ ok: true });
    expect(playbackPath('cam1', token)).toBe(`/hls/cam1/t/${token}/index.m3u8`);
    expect(playbackPath('cam1')).toBe('/hls/cam1/index.m3u8');
  });

  it('refuses a missing token', () => {
    expect(verifyPlaybackToken(secret, 'cam1', undefined, NOW)).toEqual({ ok: false, reason: 'missing' });
    expect(verifyPlaybackToken(secret, 'cam1', '', NOW)).toEqual({ ok: false, reason: 'missing' });
  });

  it('refuses an expired token (at its expiry second and after)', () => {
    const token = signPlaybackToken(secret, 'cam1', NOW);
    expect(verifyPlaybackToken(secret, 'cam1', token, NOW)).toEqual({ ok: false, reason: 'expired' });
    expect(verifyPlaybackToken(secret, 'cam1', token, NOW - 1)).toEqual({ ok: true });
  });

  it("refuses a changed signature, another stream's token, another secret's and a moved expiry", () => {
    const token = signPlaybackToken(secret, 'cam1', NOW + 60);
    const sig = token.split('.')[1]!;
    const flipped = `${NOW + 60}.${sig[0] === 'A' ? 'B' : 'A'}${sig.slice(1)}`;
    expect(verifyPlaybackToken(secret, 'cam1', flipped, NOW)).toEqual({ ok: false, reason: 'bad' });
    expect(verifyPlaybackToken(secret, 'cam2', token, NOW)).toEqual({ ok: false, reason: 'bad' });
    expect(verifyPlaybackToken(other, 'cam1', token, NOW)).toEqual({ ok: false, reason: 'bad' });
    expect(verifyPlaybackToken(secret, 'cam1', `${NOW + 6000}.${sig}`, NOW)).toEqual({ ok: false, reason: 'bad' });
    // An expired token whose signature is also wrong says "bad", not "expired".
    expect(verifyPlaybackToken(secret, 'cam1', `${NOW - 1}.${sig}`, NOW)).toEqual({ ok: false, reason: 'bad' });
  });

  it('refuses malformed tokens', () => {
    const sig = signPlaybackToken(secret, 'cam1', NOW + 60).split('.')[1]!;
    for (const t of ['abc', `${NOW + 60}`, `${NOW + 60}.`, `.${sig}`, `x${NOW + 60}.${sig}`, `${NOW + 60}.${sig.slice(0, -1)}`, `${NOW + 60}.${sig}x`, `${NOW + 60}.${sig}=`, `1e9.${sig}`]) {
      expect([t, verifyPlaybackToken(secret, 'cam1', t, NOW)]).toEqual([t, { ok: false, reason: 'bad' }]);
    }
  });
});

describe('loadPlaybackSecret', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'lm-playback-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('creates a 32-byte secret, mode 0600, on first use and reads it back; LIVEMESH_PLAYBACK_SECRET wins', async () => {
    const env = { LIVEMESH_PLAYBACK_SECRET: '', LIVEMESH_DATA_DIR: join(dir, 'data') };
    const made = await loadPlaybackSecret(env);
    expect(made).toHaveLength(32);
    expect(statSync(playbackSecretPath(env.LIVEMESH_DATA_DIR)).mode & 0o777).toBe(0o600);
    expect(await loadPlaybackSecret(env)).toEqual(made);
    expect((await loadPlaybackSecret({ ...env, LIVEMESH_PLAYBACK_SECRET: 'cd'.repeat(32) })).toString('hex')).toBe('cd'.repeat(32));
  });
});

describe('StartStreamRequest.playback', () => {
  it('takes { signed, ttlSeconds? } and refuses a non-boolean signed and a ttl out of bounds', () => {
    expect(validateMessage(StartStreamRequest, { id: 's', playback: { signed: true, ttlSeconds: 600 } }).playback).toEqual({ signed: true, ttlSeconds: 600 });
    expect(() => validateMessage(StartStreamRequest, { id: 's', playback: { signed: 'yes' } })).toThrow(/signed/);
    expect(() => validateMessage(StartStreamRequest, { id: 's', playback: { signed: true, ttlSeconds: 1 } })).toThrow(/ttlSeconds/);
    expect(() => validateMessage(StartStreamRequest, { id: 's', playback: { signed: true, ttlSeconds: 10 ** 9 } })).toThrow(/ttlSeconds/);
  });
});
