import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '@livemesh/contracts';
import { transcodeStage } from '@livemesh/services';
import { STAGE_KIND } from '@livemesh/stage-sdk';
import { loadStage } from './stage.loader.js';

describe('loadStage', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'livemesh-loader-'));
    // What a stage module built against another copy of the SDK looks like: a marked plain object.
    await writeFile(join(dir, 'good.mjs'), `export default { kind: '${STAGE_KIND}', name: 'blur', input: 'segments', params: { type: 'object', additionalProperties: false }, process: async (ctx) => ({ data: ctx.segment.data }) };`);
    await writeFile(join(dir, 'bad.mjs'), `export default { name: 'blur' };`);
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('picks a built-in by LIVEMESH_SERVICE', async () => {
    await expect(loadStage({ LIVEMESH_SERVICE: 'transcode' })).resolves.toBe(transcodeStage);
  });

  it('refuses an unknown service or no setting at all', async () => {
    await expect(loadStage({ LIVEMESH_SERVICE: 'nope' })).rejects.toThrow(ConfigError);
    await expect(loadStage({})).rejects.toThrow(/no stage to run/);
  });

  it('loads the default export of LIVEMESH_STAGE_MODULE', async () => {
    const stage = await loadStage({ LIVEMESH_STAGE_MODULE: join(dir, 'good.mjs'), LIVEMESH_SERVICE: 'blur' });
    expect(stage.name).toBe('blur');
  });

  it('refuses a module that is missing, is not a stage, or names another service', async () => {
    await expect(loadStage({ LIVEMESH_STAGE_MODULE: join(dir, 'missing.mjs') })).rejects.toThrow(/cannot be loaded/);
    await expect(loadStage({ LIVEMESH_STAGE_MODULE: join(dir, 'bad.mjs') })).rejects.toThrow(/no stage as its default export.*kind/);
    await expect(loadStage({ LIVEMESH_STAGE_MODULE: join(dir, 'good.mjs'), LIVEMESH_SERVICE: 'watermark' })).rejects.toThrow(/does not match/);
  });
});
