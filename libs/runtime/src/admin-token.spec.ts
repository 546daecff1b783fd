import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureAdminTokenFile, readAdminTokenFile } from './admin-token.js';

describe('the admin token file', () => {
  let root: string;
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'livemesh-admin-token-'));
  });
  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('is written once (0600, folder 0700) with a well-formed token, then reused', async () => {
    const dir = join(root, 'data');
    const first = await ensureAdminTokenFile(dir);
    expect(first.created).toBe(true);
    expect(first.token).toMatch(/^lm_[a-z0-9]{12}_[A-Za-z0-9_-]{43}$/);
    expect((await stat(first.path)).mode & 0o777).toBe(0o600);
    expect((await stat(dir)).mode & 0o777).toBe(0o700);
    expect((await readFile(first.path, 'utf8')).trim()).toBe(first.token);
    const again = await ensureAdminTokenFile(dir);
    expect(again).toEqual({ token: first.token, path: first.path, created: false });
  });

  it('closes a file others could read, and refuses one that holds no good token', async () => {
    const { path, token } = await ensureAdminTokenFile(root);
    await chmod(path, 0o644);
    expect(await readAdminTokenFile(root)).toBe(token);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    await writeFile(path, 'hunter2\n');
    await expect(readAdminTokenFile(root)).rejects.toThrow(/admin\.token does not hold a usable admin token: it must look like lm_<id>_<secret>.*delete the file/);
    expect(await readAdminTokenFile(join(root, 'none'))).toBeUndefined();
  });
});
