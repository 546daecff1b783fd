import { readFile } from 'node:fs/promises';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PipelineSpec, ServiceSpec, checkParamSchema, validateMessage, validateParams } from '@livemesh/contracts';
import { segmentStageArgs, type SegmentTransform } from '@livemesh/media';
import { isStageDefinition, type StageContext } from '@livemesh/stage-sdk';
import { BUILT_IN_SERVICES, DEFAULT_PIPELINE, findBuiltIn } from './built-in.catalogue.js';
import { transcodeSpec, transcodeStage } from './transcode.service.js';
import { watermarkSpec, watermarkStage } from './watermark.service.js';

const HOSTILE = "a'b:c,d%{pts}\\e;[x]";

describe('built-in catalogue', () => {
  it.each(BUILT_IN_SERVICES.map((s) => [s.spec.name, s] as const))('%s is a valid ServiceSpec with a usable schema and a matching stage', (_n, s) => {
    expect(() => validateMessage(ServiceSpec, s.spec)).not.toThrow();
    expect(checkParamSchema(s.spec.paramSchema)).toEqual([]);
    expect(s.spec).toMatchObject({ minReplicas: 0, maxReplicas: 8, builtIn: true });
    expect(s.stage.input).toBe(s.spec.input);
    expect(isStageDefinition(s.stage)).toBe(true);
    expect(s.stage.name).toBe(s.spec.name);
    expect(s.stage.params).toBe(s.spec.paramSchema);
  });

  it('finds built-ins by name', () => {
    expect(findBuiltIn('transcode')?.stage).toBe(transcodeStage);
    expect(findBuiltIn('nope')).toBeUndefined();
  });

  it('has a default pipeline that is a valid PipelineSpec of built-ins with valid params', () => {
    expect(() => validateMessage(PipelineSpec, DEFAULT_PIPELINE)).not.toThrow();
    for (const st of DEFAULT_PIPELINE.stages) {
      expect(validateParams(findBuiltIn(st.service)!.spec.paramSchema, st.params).problems).toEqual([]);
    }
  });
});

describe('watermark parameters', () => {
  const check = (p: Record<string, unknown>) => validateParams(watermarkSpec.paramSchema, p);

  it('fills defaults', () => {
    expect(check({}).params).toEqual({ text: 'livemesh', fontSize: 24, color: 'white', opacity: 0.8, position: 'bottom-right', imageWidth: 120 });
  });

  it('takes any text up to 200 characters, hostile ones included', () => {
    expect(check({ text: HOSTILE }).problems).toEqual([]);
    expect(check({ text: 'x'.repeat(201) }).problems).toHaveLength(1);
  });

  it.each([
    [{ fontSize: 7 }],
    [{ fontSize: 201 }],
    [{ color: 'red;drawbox' }],
    [{ color: '#12345' }],
    [{ opacity: 1.5 }],
    [{ position: 'middle' }],
    [{ colour: 'red' }],
    // A logo is named, never given as a path.
    [{ image: '../../etc/passwd' }],
    [{ image: '/etc/passwd' }],
  ])('refuses %j', (p) => {
    expect(check(p).problems.length).toBeGreaterThan(0);
  });

  it('accepts named and hex colours', () => {
    expect(check({ color: 'yellow' }).problems).toEqual([]);
    expect(check({ color: '#FFaa00' }).problems).toEqual([]);
  });
});

describe('transcode parameters', () => {
  const check = (p: Record<string, unknown>) => validateParams(transcodeSpec.paramSchema, p);

  it('fills defaults', () => {
    expect(check({}).params).toEqual({ width: 854, height: 480, videoBitrateKbps: 1200, preset: 'veryfast', rendition: 'main' });
  });

  it.each([[{ width: 853 }], [{ height: 8 }], [{ preset: 'placebo' }], [{ rendition: 'a.b' }], [{ fps: 0 }], [{ videoBitrateKbps: 10 }]])('refuses %j', (p) => {
    expect(check(p).problems.length).toBeGreaterThan(0);
  });
});

/** A stage context whose ffmpeg records its arguments: the edge of the unit under test. */
function fakeContext<P extends object>(params: P, dir: string) {
  const calls: string[][] = [];
  const ctx = {
    params,
    segment: { meta: {}, data: new Uint8Array([0x47]) },
    transfer: {},
    workDir: async () => dir,
    media: { video: { fps: 50 } },
    // What the CLI engine would run for the transform, so the arguments can be checked.
    transform: async (t: SegmentTransform) => {
      calls.push(segmentStageArgs(t));
      return new Uint8Array([0x47, 1]);
    },
  } as unknown as StageContext<P>;
  return { ctx, calls };
}

describe('stage arguments', () => {
  let dir: string;
  beforeEach(async () => (dir = await mkdtemp(join(tmpdir(), 'livemesh-services-'))));
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it('watermark puts the text in a file, never in the filter graph', async () => {
    const { ctx, calls } = fakeContext({ ...validateParams(watermarkSpec.paramSchema, { text: HOSTILE }).params } as never, dir);
    await watermarkStage.process(ctx);
    const args = calls[0]!;
    const filter = args[args.indexOf('-filter:v') + 1]!;
    expect(filter).toContain('expansion=none');
    expect(filter).not.toContain('%{pts}');
    expect(await readFile(join(dir, 'watermark.txt'), 'utf8')).toBe(HOSTILE);
    expect(args).toEqual(expect.arrayContaining(['-c:a', 'copy', '-copyts', '-enc_time_base:v', '-1']));
    expect(args.slice(-1)).toEqual(['pipe:1']);
  });

  it('transcode scales to the exact size and names the rendition', async () => {
    const { ctx, calls } = fakeContext({ ...validateParams(transcodeSpec.paramSchema, { fps: 25, rendition: 'r480' }).params } as never, dir);
    const out = await transcodeStage.process(ctx);
    const args = calls[0]!;
    expect(args[args.indexOf('-filter:v') + 1]).toBe('scale=854:480,setsar=1,select=lt(ceil(t*25-0.000001)\\\\\\,(t+0.02)*25-0.000001),setpts=round(ceil(T*25-0.000001)/25/TB)');
    expect(args).toEqual(expect.arrayContaining(['-b:v', '1200k', '-preset', 'veryfast', '-c:a', 'copy']));
    expect(out).toMatchObject({ rendition: 'r480' });
  });

  it('transcode forces a key frame at each scene cut handed on, through ffmpeg rather than the engine', async () => {
    const { ctx, calls } = fakeContext({ ...validateParams(transcodeSpec.paramSchema, {}).params } as never, dir);
    const ffmpegCalls: string[][] = [];
    Object.assign(ctx, { transfer: { sceneCuts: [11.2, 12.04] }, handOff: 'final', ffmpeg: async (args: string[]) => (ffmpegCalls.push(args), new Uint8Array([0x47])) });
    const out = await transcodeStage.process(ctx);
    expect(calls).toEqual([]);
    expect(ffmpegCalls[0]![ffmpegCalls[0]!.indexOf('-force_key_frames') + 1]).toBe('11.200,12.040');
    expect(out).toMatchObject({ rendition: 'main', transfer: { width: 854, height: 480 } });
  });

});
