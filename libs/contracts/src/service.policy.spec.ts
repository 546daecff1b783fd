import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UnsafeServiceError } from './errors.js';
import { checkServiceSafety, checkStageModule, deniedEnvKey, imageProblem, imageRegistry, serviceEnvProblems, type StagePolicy } from './service.policy.js';

describe('checkStageModule', () => {
  let root: string;
  let policy: StagePolicy;
  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), 'lm-stage-policy-'));
    mkdirSync(join(root, 'stages/good/dist'), { recursive: true });
    mkdirSync(join(root, 'outside'));
    writeFileSync(join(root, 'stages/good/dist/index.js'), 'export default {};');
    writeFileSync(join(root, 'outside/evil.js'), 'export default {};');
    symlinkSync(join(root, 'outside/evil.js'), join(root, 'stages/link.js'));
    symlinkSync(join(root, 'outside'), join(root, 'stages/linkdir'));
    policy = { stageDir: join(root, 'stages'), packages: ['@acme/blur', 'pixel-stage'] };
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('allows a built file under the stage directory and answers its real path', () => {
    expect(checkStageModule(join(root, 'stages/good/dist/index.js'), policy)).toEqual({ kind: 'path', path: join(root, 'stages/good/dist/index.js') });
  });

  it('allows a listed package, by its exact name', () => {
    expect(checkStageModule('@acme/blur', policy)).toEqual({ kind: 'package', name: '@acme/blur' });
    expect(checkStageModule('pixel-stage', policy)).toEqual({ kind: 'package', name: 'pixel-stage' });
  });

  it.each([
    ['data:text/javascript,process.exit(7)', /"data:" specifiers are not allowed/],
    ['file:///etc/passwd.js', /"file:" specifiers/],
    ['https://evil.example/x.js', /"https:" specifiers/],
    ['http://127.0.0.1/x.js', /"http:" specifiers/],
    ['node:child_process', /"node:" specifiers/],
    ['pixel-stage/evil', /neither a path .* nor a valid npm package name|not in LIVEMESH_STAGE_PACKAGES/],
    ['lodash', /package "lodash" is not in LIVEMESH_STAGE_PACKAGES/],
    ['Bad_Name', /nor a valid npm package name/],
    ['', /must be a package name or a path/],
    ['/x/../y.js', /must not contain "\.\." segments/],
    ['./a\nb.js', /control characters/],
  ])('refuses %s', (spec, why) => {
    expect(() => checkStageModule(spec, policy)).toThrow(UnsafeServiceError);
    expect(() => checkStageModule(spec, policy)).toThrow(why);
  });

  it('refuses paths outside the directory, ".." escapes and symlinks that lead out', () => {
    expect(() => checkStageModule(join(root, 'outside/evil.js'), policy)).toThrow(/is not under LIVEMESH_STAGE_DIR/);
    expect(() => checkStageModule(`${join(root, 'stages')}/../outside/evil.js`, policy)).toThrow(/"\.\." segments/);
    expect(() => checkStageModule(join(root, 'stages/link.js'), policy)).toThrow(/once its symlinks are resolved/);
    expect(() => checkStageModule(join(root, 'stages/linkdir/evil.js'), policy)).toThrow(/once its symlinks are resolved/);
    expect(() => checkStageModule(join(root, 'stages/missing.js'), policy)).toThrow(/does not exist/);
    expect(() => checkStageModule(join(root, 'stages/good/dist/index.json'), policy)).toThrow(/built JavaScript file/);
  });

  it('names the field it was given in the problem', () => {
    try {
      checkStageModule('data:,x', policy, 'LIVEMESH_STAGE_MODULE');
      throw new Error('not refused');
    } catch (e) {
      expect((e as UnsafeServiceError).problems[0]).toMatch(/^LIVEMESH_STAGE_MODULE: /);
    }
  });
});

describe('service env', () => {
  it.each(['NODE_OPTIONS', 'node_options', 'LD_PRELOAD', 'LD_LIBRARY_PATH', 'DYLD_INSERT_LIBRARIES', 'PATH', 'NODE_PATH', 'FFMPEG_PATH', 'FFPROBE_PATH', 'ENGINE_PATH', 'NATS_URL', 'NATS_CREDS', 'LIVEMESH_STAGE_MODULE', 'LIVEMESH_ANYTHING', 'STAGE_TIMEOUT_MS', 'DOCKER_HOST', 'OPENSSL_CONF', 'FFREPORT', 'HTTP_PROXY', 'https_proxy', 'GLIBC_TUNABLES', 'BASH_ENV'])(
    'denies %s',
    (key) => {
      expect(deniedEnvKey(key)).toBeDefined();
      expect(serviceEnvProblems({ [key]: 'x' })).toEqual([expect.stringMatching(new RegExp(`^env\\.${key}: `))]);
    },
  );

  it('allows a service its own variables and NODE_ENV', () => {
    expect(serviceEnvProblems({ PIXELATE_NOTE: 'hi', NODE_ENV: 'production', TZ: 'UTC' })).toEqual([]);
    expect(serviceEnvProblems(undefined)).toEqual([]);
  });

  it('bounds names, values, counts and size', () => {
    expect(serviceEnvProblems({ 'A-B': 'x' })).toEqual([expect.stringMatching(/^env\.A-B: a name must be/)]);
    expect(serviceEnvProblems({ A: 1 })).toEqual(['env.A: must be a string']);
    expect(serviceEnvProblems({ A: 'x'.repeat(5000) })).toEqual([expect.stringMatching(/longer than 4096/)]);
    expect(serviceEnvProblems({ A: 'a\u0000b' })).toEqual([expect.stringMatching(/NUL/)]);
    expect(serviceEnvProblems(Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`V${i}`, 'x'])))).toEqual([expect.stringMatching(/65 variables, more than 64/)]);
    expect(serviceEnvProblems(Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`V${i}`, 'x'.repeat(4000)])))).toEqual([expect.stringMatching(/more than 32768/)]);
    expect(serviceEnvProblems(['A=1'])).toEqual(['env: must be an object of strings']);
  });
});

describe('images', () => {
  const policy = { registries: ['local', '127.0.0.1:5000'], builtInImage: 'livemesh/worker:0.1.0' };

  it.each([
    ['livemesh/pixelate:1.0.0', 'local'],
    ['ubuntu', 'local'],
    ['127.0.0.1:5000/livemesh/pixelate:1.0.0', '127.0.0.1:5000'],
    ['localhost/x', 'localhost'],
    ['GHCR.io/acme/x@sha256:' + 'a'.repeat(64), 'ghcr.io'],
    ['docker.io/library/ubuntu:22.04', 'docker.io'],
  ])('reads the registry of %s', (ref, registry) => expect(imageRegistry(ref)).toBe(registry));

  it('allows listed registries, local images and the built-in image', () => {
    expect(imageProblem('127.0.0.1:5000/livemesh/pixelate:1.0.0', policy)).toBeUndefined();
    expect(imageProblem('livemesh/pixelate:1.0.0', policy)).toBeUndefined();
    expect(imageProblem('livemesh/worker:0.1.0', { ...policy, registries: [] })).toBeUndefined();
  });

  it('refuses other registries and malformed references, naming the field', () => {
    expect(imageProblem('docker.io/evil/miner:latest', policy)).toMatch(/^run\.image: registry "docker\.io" is not in LIVEMESH_IMAGE_REGISTRIES/);
    expect(imageProblem('evil.example:443/x', policy)).toMatch(/registry "evil\.example:443"/);
    expect(imageProblem('livemesh/pixelate:1.0.0', { ...policy, registries: ['127.0.0.1:5000'] })).toMatch(/does not list "local"/);
    expect(imageProblem('--privileged', policy)).toMatch(/is not a Docker image reference/);
    expect(imageProblem('a b', policy)).toMatch(/not a Docker image reference/);
  });
});

describe('checkServiceSafety', () => {
  it('lists every problem of a service at once', () => {
    const policy = { stage: { stageDir: '/nonexistent-stage-dir', packages: [] }, image: { registries: ['local'], builtInImage: 'w' } };
    try {
      checkServiceSafety({ run: { module: 'data:text/javascript,1', image: 'ghcr.io/x/y' }, env: { LD_PRELOAD: '/tmp/x.so' } }, policy);
      throw new Error('not refused');
    } catch (e) {
      expect(e).toBeInstanceOf(UnsafeServiceError);
      expect((e as UnsafeServiceError).code).toBe('LM_UNSAFE_SERVICE');
      expect((e as UnsafeServiceError).problems).toEqual([
        expect.stringMatching(/^env\.LD_PRELOAD: /),
        expect.stringMatching(/^run\.module: "data:" specifiers/),
        expect.stringMatching(/^run\.image: registry "ghcr\.io"/),
      ]);
    }
  });
});
