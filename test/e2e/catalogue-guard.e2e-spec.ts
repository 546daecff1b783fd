// A catalogue that cannot run arbitrary code: POST/PUT /api/services refuses a stage module that is
// a URL or lies outside LIVEMESH_STAGE_DIR (symlinks resolved), an env that sets what the loader,
// the runtime or livemesh reads, and an image from a registry not in LIVEMESH_IMAGE_REGISTRIES,
// with 422 naming each field and nothing written; built-in services cannot be replaced or removed.
// Real nats-server and orchestrator; the container runtime is the stand-in (nothing is started).
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BUCKETS } from '@livemesh/contracts';
import { startInProcessOrchestrator, type InProcessOrchestrator } from '../support/in-process-orchestrator.js';

describe('catalogue: what a registered service may run', () => {
  let o: InProcessOrchestrator;
  let dir: string;
  let stages: string;

  const service = (over: Record<string, unknown> = {}) => ({
    name: 'blur',
    version: '1.0.0',
    input: 'segments',
    minReplicas: 0,
    maxReplicas: 2,
    paramSchema: { type: 'object', additionalProperties: false, properties: {} },
    ...over,
  });

  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  async function api(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
    const res = await o.fetch(path, { method, headers: body ? { 'content-type': 'application/json' } : {}, body: body ? JSON.stringify(body) : undefined });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined };
  }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'livemesh-catalogue-guard-'));
    stages = join(dir, 'stages');
    await mkdir(join(stages, 'blur'), { recursive: true });
    await writeFile(join(stages, 'blur/index.js'), 'export default {};');
    await writeFile(join(dir, 'outside.js'), 'export default {};');
    await symlink(join(dir, 'outside.js'), join(stages, 'escape.js'));
    o = await startInProcessOrchestrator('catalogue-guard-e2e', {
      LIVEMESH_STAGE_DIR: stages,
      LIVEMESH_STAGE_PACKAGES: '@acme/blur-stage',
      LIVEMESH_IMAGE_REGISTRIES: 'local,127.0.0.1:5000',
    });
  });

  afterAll(async () => {
    await o?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('registers a module under LIVEMESH_STAGE_DIR, a listed package and an image of an allowed registry', async () => {
    expect((await api('POST', '/api/services', service({ run: { module: join(stages, 'blur/index.js') }, env: { BLUR_NOTE: 'ok', NODE_ENV: 'production' } }))).status).toBe(201);
    expect((await api('POST', '/api/services', service({ name: 'blur2', run: { module: '@acme/blur-stage' } }))).status).toBe(201);
    expect((await api('POST', '/api/services', service({ name: 'blur3', run: { image: '127.0.0.1:5000/livemesh/blur:1.0.0' } }))).status).toBe(201);
    expect((await api('PUT', '/api/services/blur', service({ version: '1.0.1', run: { module: join(stages, 'blur/index.js') } }))).status).toBe(200);
  });

  it.each([
    ['a data: URL', { run: { module: 'data:text/javascript,process.exit(7)' } }, [/^run\.module: "data:" specifiers are not allowed/]],
    ['a file: URL', { run: { module: 'file://$STAGES/blur/index.js' } }, [/^run\.module: "file:" specifiers/]],
    ['an http: URL', { run: { module: 'http://127.0.0.1:1/x.js' } }, [/^run\.module: "http:" specifiers/]],
    ['a node: builtin', { run: { module: 'node:child_process' } }, [/^run\.module: "node:" specifiers/]],
    ['a path outside the stage directory', { run: { module: '$DIR/outside.js' } }, [/^run\.module: .* is not under LIVEMESH_STAGE_DIR/]],
    ['a .. escape', { run: { module: '$STAGES/../outside.js' } }, [/^run\.module: must not contain "\.\." segments/]],
    ['a symlink leading out', { run: { module: '$STAGES/escape.js' } }, [/^run\.module: .* once its symlinks are resolved/]],
    ['an unlisted package', { run: { module: 'left-pad' } }, [/^run\.module: package "left-pad" is not in LIVEMESH_STAGE_PACKAGES/]],
    ['NODE_OPTIONS and LD_PRELOAD', { env: { NODE_OPTIONS: '--require /tmp/x.js', LD_PRELOAD: '/tmp/x.so' } }, [/^env\.NODE_OPTIONS: /, /^env\.LD_PRELOAD: /]],
    ['tool paths', { env: { FFMPEG_PATH: '/tmp/evil', PATH: '/tmp' } }, [/^env\.FFMPEG_PATH: is a livemesh setting/, /^env\.PATH: /]],
    ["livemesh's own variables", { env: { NATS_URL: 'nats://127.0.0.1:1', LIVEMESH_STAGE_DIR: '/' } }, [/^env\.NATS_URL: is a livemesh setting/, /^env\.LIVEMESH_STAGE_DIR: is a livemesh setting/]],
    ['an image from another registry', { run: { image: 'docker.io/evil/miner:latest' } }, [/^run\.image: registry "docker\.io" is not in LIVEMESH_IMAGE_REGISTRIES/]],
  ])('refuses %s with 422 LM_UNSAFE_SERVICE naming the field, and writes nothing', async (_what, template, problems) => {
    // Paths are filled in here: the table is built before beforeAll made the directories.
    const over = JSON.parse(JSON.stringify(template).replaceAll('$STAGES', stages).replaceAll('$DIR', dir)) as Record<string, unknown>;
    const r = await api('POST', '/api/services', service({ name: 'hostile', ...over }));
    expect(r.status).toBe(422);
    expect(r.body).toMatchObject({ statusCode: 422, code: 'LM_UNSAFE_SERVICE' });
    expect(r.body.problems).toEqual(problems.map((p) => expect.stringMatching(p)));
    expect(await o.bus.store(BUCKETS.catalogue).get('service.hostile')).toBeUndefined();
    // The same holds for a replacement: the registered service keeps what it had.
    const put = await api('PUT', '/api/services/blur', service({ version: '9.9.9', ...over }));
    expect(put.status).toBe(422);
    expect((await api('GET', '/api/services/blur')).body.version).toBe('1.0.1');
  });

  it('keeps built-in services as shipped: no replace, no remove, no re-register (409 LM_BUILT_IN)', async () => {
    const before = (await api('GET', '/api/services/watermark')).body;
    const put = await api('PUT', '/api/services/watermark', { ...service({ name: 'watermark', version: '9.0.0' }) });
    expect(put.status).toBe(409);
    expect(put.body).toMatchObject({ code: 'LM_BUILT_IN', message: expect.stringMatching(/service "watermark" is built in and cannot be replaced/) });
    const post = await api('POST', '/api/services', service({ name: 'transcode' }));
    expect(post.status).toBe(409);
    expect(post.body.code).toBe('LM_BUILT_IN');
    const del = await api('DELETE', '/api/services/watermark');
    expect(del.status).toBe(409);
    expect(del.body.message).toMatch(/built in and cannot be removed/);
    expect((await api('GET', '/api/services/watermark')).body).toEqual(before);
  });
});
