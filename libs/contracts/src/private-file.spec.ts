import { chmod, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readOrCreatePrivateFile, readPrivateFile, writePrivateFile } from './private-file.js';

describe('private files', () => {
  let root: string;
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'lm-private-'));
  });
  afterEach(() => rm(root, { recursive: true, force: true }));

  it('creates the file 0600 in a 0700 folder, and reads it back unchanged afterwards', async () => {
    const path = join(root, 'deep', 'secret');
    expect(await readOrCreatePrivateFile(path, () => 'one\n')).toEqual({ text: 'one\n', created: true });
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect((await stat(join(root, 'deep'))).mode & 0o777).toBe(0o700);
    expect(await readOrCreatePrivateFile(path, () => 'two\n')).toEqual({ text: 'one\n', created: false });
    expect(await readdir(join(root, 'deep'))).toEqual(['secret']);
  });

  it('gives every concurrent creator the first one’s text, never a replaced or empty file', async () => {
    const path = join(root, 'secret');
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => readOrCreatePrivateFile(path, async () => `text ${i}\n`)));
    expect(results.filter((r) => r.created)).toHaveLength(1);
    const winner = results.find((r) => r.created)!.text;
    for (const r of results) expect(r.text).toBe(winner);
    expect(await readPrivateFile(path)).toBe(winner);
    expect(await readdir(root)).toEqual(['secret']);
  });

  it('tightens a file others could read before reading it, and is undefined when there is none', async () => {
    const path = join(root, 'loose');
    await writeFile(path, 'x');
    await chmod(path, 0o644);
    expect(await readPrivateFile(path)).toBe('x');
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect(await readPrivateFile(join(root, 'none'))).toBeUndefined();
  });

  it('replaces a file in one step with writePrivateFile, owner-only', async () => {
    const path = join(root, 'creds');
    await writePrivateFile(path, 'a');
    await writePrivateFile(path, 'b');
    expect(await readPrivateFile(path)).toBe('b');
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect(await readdir(root)).toEqual(['creds']);
  });
});
