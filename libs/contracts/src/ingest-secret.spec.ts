import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ingestSecretPath, loadIngestSecret } from './ingest-secret.js';

describe('loadIngestSecret', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'lm-secret-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));
  const env = (secret = '') => ({ LIVEMESH_INGEST_SECRET: secret, LIVEMESH_DATA_DIR: join(dir, 'data') });

  it('creates a 32-byte secret, mode 0600, only when asked, and reads the same one back', async () => {
    expect(await loadIngestSecret(env(), false)).toBeUndefined();
    const made = await loadIngestSecret(env(), true);
    expect(made).toHaveLength(32);
    expect(statSync(ingestSecretPath(env().LIVEMESH_DATA_DIR)).mode & 0o777).toBe(0o600);
    expect(await loadIngestSecret(env(), false)).toEqual(made);
    expect(await loadIngestSecret(env(), true)).toEqual(made);
  });

  it('takes LIVEMESH_INGEST_SECRET over the file, and refuses a malformed file', async () => {
    expect((await loadIngestSecret(env('ab'.repeat(32)), true))?.toString('hex')).toBe('ab'.repeat(32));
    writeFileSync(join(dir, 'ingest.secret'), 'not hex\n');
    await expect(loadIngestSecret({ LIVEMESH_INGEST_SECRET: '', LIVEMESH_DATA_DIR: dir }, false)).rejects.toThrow(/must hold 64 hex digits/);
  });
});
