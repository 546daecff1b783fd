import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RuntimeError } from '@livemesh/contracts';
import { collectBaseRootfs, parseLdd, splitTag } from './image.base.js';
import { natsImageTag, parseNatsServerVersion } from './image.nats.js';
import { appImageTag, serviceDockerfile, serviceImageTag } from './image.builder.js';
import { runtimeFiles } from './image.context.js';

describe('parseLdd', () => {
  it('keeps resolved libraries and the loader, not the vdso', () => {
    const out = [
      '\tlinux-vdso.so.1 (0x00007ffd)',
      '\tlibx264.so.164 => /lib/x86_64-linux-gnu/libx264.so.164 (0x00007f1)',
      '\t/lib64/ld-linux-x86-64.so.2 (0x00007f2)',
    ].join('\n');
    expect(parseLdd(out)).toEqual(['/lib/x86_64-linux-gnu/libx264.so.164', '/lib64/ld-linux-x86-64.so.2']);
  });

  it('refuses a binary whose library is missing', () => {
    expect(() => parseLdd('\tlibfoo.so.1 => not found')).toThrow(RuntimeError);
  });
});

describe('image names', () => {
  it('splits a tag without mistaking a registry port for it', () => {
    expect(splitTag('127.0.0.1:5000/livemesh/base')).toEqual(['127.0.0.1:5000/livemesh/base', 'latest']);
    expect(splitTag('livemesh/base:local')).toEqual(['livemesh/base', 'local']);
  });

  it('puts the registry in front of livemesh/<name>:<version>', () => {
    expect(serviceImageTag('pixelate', '1.0.0', '127.0.0.1:5000/')).toBe('127.0.0.1:5000/livemesh/pixelate:1.0.0');
    expect(appImageTag('worker', '0.1.0')).toBe('livemesh/worker:0.1.0');
    expect(() => serviceImageTag('a.b', '1.0.0')).toThrow();
  });
});

describe('serviceDockerfile', () => {
  it('layers the module on the worker image and escapes environment values', () => {
    const text = serviceDockerfile('pixelate', 'dist/index.js', { NOTE: 'say "hi" $HOME \\o/' });
    expect(text).toContain('FROM ${WORKER_IMAGE}');
    expect(text).toContain('COPY service/ /app/services/pixelate/');
    expect(text).toContain('LIVEMESH_STAGE_MODULE="/app/services/pixelate/dist/index.js"');
    expect(text).toContain('LIVEMESH_STAGE_DIR="/app/services"');
    expect(text).toContain('ENV NOTE="say \\"hi\\" \\$HOME \\\\o/"');
    expect(text).toMatch(/USER 10001:10001\n$/);
  });

  it('refuses environment names and values that would break the Dockerfile', () => {
    expect(() => serviceDockerfile('p', 'i.js', { 'A B': 'x' })).toThrow(/environment names/);
    expect(() => serviceDockerfile('p', 'i.js', { LD_PRELOAD: '/tmp/x.so' })).toThrow(/env\.LD_PRELOAD: /);
    expect(() => serviceDockerfile('p', 'i.js', { LIVEMESH_STAGE_DIR: '/' })).toThrow(/env\.LIVEMESH_STAGE_DIR: is a livemesh setting/);
    expect(() => serviceDockerfile('p', 'i.js', { A: 'x\nRUN evil' })).toThrow(/line breaks/);
  });
});

describe('runtimeFiles', () => {
  let root: string;
  const pkg = (dir: string, body: object) => mkdir(dir, { recursive: true }).then(() => writeFile(join(dir, 'package.json'), JSON.stringify(body)));

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'livemesh-ctx-'));
    await pkg(root, { name: 'root', workspaces: ['apps/*', 'libs/*'], devDependencies: { jest: '1' } });
    await pkg(join(root, 'apps/app'), { name: '@x/app', dependencies: { '@x/lib': '1', dep: '1' } });
    await mkdir(join(root, 'apps/app/dist'), { recursive: true });
    await writeFile(join(root, 'apps/app/dist/main.js'), '');
    await writeFile(join(root, 'apps/app/dist/.tsbuildinfo'), '');
    await mkdir(join(root, 'apps/app/src'), { recursive: true });
    await writeFile(join(root, 'apps/app/src/main.ts'), '');
    await pkg(join(root, 'libs/lib'), { name: '@x/lib', dependencies: { nested: '1' }, peerDependencies: { peer: '1', gone: '1' }, peerDependenciesMeta: { gone: { optional: true } } });
    await mkdir(join(root, 'libs/lib/dist'), { recursive: true });
    await writeFile(join(root, 'libs/lib/dist/index.js'), '');
    await mkdir(join(root, 'node_modules/@x'), { recursive: true });
    await symlink('../../libs/lib', join(root, 'node_modules/@x/lib'));
    await pkg(join(root, 'node_modules/dep'), { name: 'dep' });
    await writeFile(join(root, 'node_modules/dep/index.js'), '');
    await pkg(join(root, 'node_modules/dep/node_modules/unused'), { name: 'unused' });
    await pkg(join(root, 'node_modules/nested'), { name: 'nested' });
    await pkg(join(root, 'node_modules/peer'), { name: 'peer' });
    await pkg(join(root, 'node_modules/jest'), { name: 'jest' });
  });

  afterAll(() => rm(root, { recursive: true, force: true }));

  it('collects the production closure: built files, workspace links, dependencies and required peers', async () => {
    expect(await runtimeFiles(root, ['apps/app'])).toEqual([
      'apps/app/dist/main.js',
      'apps/app/package.json',
      'libs/lib/dist/index.js',
      'libs/lib/package.json',
      'node_modules/@x/lib',
      'node_modules/dep/index.js',
      'node_modules/dep/package.json',
      'node_modules/nested/package.json',
      'node_modules/peer/package.json',
    ]);
  });

  it('names a dependency that is not installed', async () => {
    await pkg(join(root, 'apps/broken'), { name: 'broken', dependencies: { missing: '1' } });
    await expect(runtimeFiles(root, ['apps/broken'])).rejects.toThrow(/depends on missing, which is not installed/);
  });
});

describe('the NATS image', () => {
  it('is tagged livemesh/nats:<livemesh version> and reads the version nats-server prints', () => {
    expect(natsImageTag('0.1.0')).toBe('livemesh/nats:0.1.0');
    expect(natsImageTag('0.1.0', '127.0.0.1:5000')).toBe('127.0.0.1:5000/livemesh/nats:0.1.0');
    expect(parseNatsServerVersion('nats-server: v2.9.10\n')).toBe('2.9.10');
    expect(() => parseNatsServerVersion('command not found')).toThrow(RuntimeError);
  });

  it('carries nats-server and its libraries, without node', async () => {
    const root = await mkdtemp(join(tmpdir(), 'lm-nats-rootfs-'));
    try {
      // Any dynamic executable stands in for nats-server here; the path is what matters.
      const files = await collectBaseRootfs(root, { media: false, node: false, extraBinaries: [process.execPath] });
      expect(files).toContain('/usr/bin/node');
      expect(files.filter((f) => f.startsWith('/usr/bin/'))).toEqual(['/usr/bin/node']);
      const withoutExtra = await collectBaseRootfs(await mkdtemp(join(root, 'b-')), { media: false, node: false });
      expect(withoutExtra.filter((f) => f.startsWith('/usr/bin/'))).toEqual([]);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
