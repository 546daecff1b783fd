import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '@livemesh/contracts';
import { transcodeStage } from '@livemesh/services';
import { STAGE_KIND } from '@livemesh/stage-sdk';
import { loadStage } from './stage.loader.js';

describe('loadStage', () => {
  let root: string;
  let dir: string;
  let policy: { LIVEMESH_STAGE_DIR: string; LIVEMESH_STAGE_PACKAGES: string };
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'livemesh-loader-'));
    dir = join(root, 'stages');
    await mkdir(dir);
    policy = { LIVEMESH_STAGE_DIR: dir, LIVEMESH_STAGE_PACKAGES: 'pixel-stage' };
    // Outside the stage directory: would set a global if it were ever imported.
    await writeFile(join(root, 'outside.mjs'), `globalThis.__lmOutside = true; export default {};`);
    await symlink(join(root, 'outside.mjs'), join(dir, 'link.mjs'));
    // What a stage module built against another copy of the SDK looks like: a marked plain object.
    await writeFile(join(dir, 'good.mjs'), `export default { kind: '${STAGE_KIND}', name: 'blur', input: 'segments', params: { type: 'object', additionalProperties: false }, process: async (ctx) => ({ data: ctx.segment.data }) };`);
    await writeFile(join(dir, 'bad.mjs'), `export default { name: 'blur' };`);
  });
  afterAll(() => rm(root, { recursive: true, force: true }));

  it('picks a built-in by LIVEMESH_SERVICE', async () => {
    await expect(loadStage({ ...policy, LIVEMESH_SERVICE: 'transcode' })).resolves.toBe(transcodeStage);
  });

  it('refuses an unknown service or no setting at all', async () => {
    await expect(loadStage({ ...policy, LIVEMESH_SERVICE: 'nope' })).rejects.toThrow(ConfigError);
    await expect(loadStage(policy)).rejects.toThrow(/no stage to run/);
  });

  it('loads the default export of LIVEMESH_STAGE_MODULE', async () => {
    const stage = await loadStage({ ...policy, LIVEMESH_STAGE_MODULE: join(dir, 'good.mjs'), LIVEMESH_SERVICE: 'blur' });
    expect(stage.name).toBe('blur');
  });

  it('refuses a module that is missing, is not a stage, or names another service', async () => {
    await expect(loadStage({ ...policy, LIVEMESH_STAGE_MODULE: join(dir, 'missing.mjs') })).rejects.toThrow(/missing\.mjs does not exist/);
    await expect(loadStage({ ...policy, LIVEMESH_STAGE_MODULE: join(dir, 'bad.mjs') })).rejects.toThrow(/no stage as its default export.*kind/);
    await expect(loadStage({ ...policy, LIVEMESH_STAGE_MODULE: join(dir, 'good.mjs'), LIVEMESH_SERVICE: 'watermark' })).rejects.toThrow(/does not match/);
  });

  it('refuses URL specifiers, paths outside LIVEMESH_STAGE_DIR, symlinks out of it and unlisted packages, before importing anything', async () => {
    const hostile = [
      ['data:text/javascript,globalThis.__lmOutside=true;export default {}', /"data:" specifiers are not allowed/],
      [`file://${join(root, 'outside.mjs')}`, /"file:" specifiers/],
      ['node:child_process', /"node:" specifiers/],
      ['https://127.0.0.1:1/x.mjs', /"https:" specifiers/],
      [join(root, 'outside.mjs'), /is not under LIVEMESH_STAGE_DIR/],
      [`${dir}/../outside.mjs`, /"\.\." segments/],
      [join(dir, 'link.mjs'), /once its symlinks are resolved/],
      ['lodash', /not in LIVEMESH_STAGE_PACKAGES/],
    ] as const;
    for (const [spec, why] of hostile) {
      const load = loadStage({ ...policy, LIVEMESH_STAGE_MODULE: spec });
      await expect(load).rejects.toThrow(ConfigError);
      await expect(load).rejects.toThrow(why);
    }
    expect((globalThis as { __lmOutside?: boolean }).__lmOutside).toBeUndefined();
  });
});
