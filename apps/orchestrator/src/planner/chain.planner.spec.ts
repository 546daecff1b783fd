import { ChainPlanError, type PipelineSpec, type ServiceSpec } from '@livemesh/contracts';
import { buildChainSpec, fusionGroups, planChain, type CatalogueSnapshot } from './chain.planner.js';

function service(name: string, properties: Record<string, unknown>, required: string[] = []): ServiceSpec {
  return {
    name,
    version: '1.0.0',
    paramSchema: { type: 'object', additionalProperties: false, properties, required },
    input: 'segments',
    minReplicas: 0,
    maxReplicas: 2,
  } as ServiceSpec;
}

const services = new Map<string, ServiceSpec>([
  ['watermark', service('watermark', { text: { type: 'string', default: 'livemesh' }, size: { type: 'integer', minimum: 8, default: 24 } })],
  ['transcode', service('transcode', { width: { type: 'integer', minimum: 16 }, height: { type: 'integer', minimum: 16 } }, ['width', 'height'])],
  ['pixelate', service('pixelate', { block: { type: 'integer', minimum: 2, default: 16 } })],
]);

const pipelines: PipelineSpec[] = [
  { name: 'default', default: true, stages: [{ service: 'watermark', params: { text: 'livemesh' } }, { service: 'transcode', params: { width: 854, height: 480 } }] },
  { name: 'games', priority: 10, selectors: { category: ['game', 'esports'] }, stages: [{ service: 'transcode', params: { width: 640, height: 360 } }] },
  { name: 'games-hd', priority: 20, selectors: { category: 'game', height: '1080' }, stages: [{ service: 'pixelate' }] },
  { name: 'catch-all-without-selectors', priority: 999, stages: [{ service: 'pixelate' }] },
] as PipelineSpec[];

const catalogue: CatalogueSnapshot = { services, pipelines };

function planError(fn: () => unknown): ChainPlanError {
  try {
    fn();
  } catch (e) {
    if (e instanceof ChainPlanError) return e;
    throw e;
  }
  throw new Error('expected a ChainPlanError');
}

describe('planChain', () => {
  it('uses explicit stages before any pipeline, filling parameter defaults', () => {
    const plan = planChain({ id: 's1', stages: [{ service: 'watermark' }], pipeline: 'games' }, catalogue);
    expect(plan.source).toBe('stages');
    expect(plan.stages).toEqual([{ service: 'watermark', params: { text: 'livemesh', size: 24 } }]);
  });

  it('uses a pipeline by name', () => {
    const plan = planChain({ id: 's1', pipeline: 'games', attributes: { category: 'music' } }, catalogue);
    expect(plan.source).toBe('pipeline:games');
    expect(plan.stages).toEqual([{ service: 'transcode', params: { width: 640, height: 360 } }]);
  });

  it('picks the highest-priority pipeline whose selectors all match', () => {
    expect(planChain({ id: 's', attributes: { category: 'esports' } }, catalogue).source).toBe('pipeline:games');
    expect(planChain({ id: 's', attributes: { category: 'game', height: '1080' } }, catalogue).source).toBe('pipeline:games-hd');
    expect(planChain({ id: 's', attributes: { category: 'game', height: '720' } }, catalogue).source).toBe('pipeline:games');
  });

  it('falls back to the default pipeline, never to one that merely lacks selectors', () => {
    const plan = planChain({ id: 's', attributes: { category: 'music' } }, catalogue);
    expect(plan.source).toBe('pipeline:default');
    expect(plan.stages.map((s) => s.service)).toEqual(['watermark', 'transcode']);
    expect(planChain({ id: 's' }, catalogue).source).toBe('pipeline:default');
  });

  it('lays overrides over the pipeline parameters of every stage of that service', () => {
    const plan = planChain({ id: 's', overrides: { watermark: { text: 'hi' }, transcode: { height: 360 } } }, catalogue);
    expect(plan.stages).toEqual([
      { service: 'watermark', params: { text: 'hi', size: 24 } },
      { service: 'transcode', params: { width: 854, height: 360 } },
    ]);
  });

  it('lists every problem at once: unknown service, refused and missing parameters, stray overrides', () => {
    const err = planError(() =>
      planChain(
        {
          id: 's',
          stages: [{ service: 'watermark', params: { txt: 'typo', size: 2 } }, { service: 'nope' }, { service: 'transcode', params: { width: 'wide' } }],
          overrides: { pixelate: { block: 4 } },
        },
        catalogue,
      ),
    );
    expect(err.problems).toEqual(
      expect.arrayContaining([
        'overrides.pixelate: service "pixelate" is not in the chain (watermark -> nope -> transcode)',
        'stages[0].params: unknown parameter "txt"',
        expect.stringMatching(/^stages\[0\]\.params\.size: must be >= 8/),
        'stages[1].service: unknown service "nope"',
        expect.stringMatching(/^stages\[2\]\.params: must have required property 'height'/),
        expect.stringMatching(/^stages\[2\]\.params\.width: must be integer/),
      ]),
    );
    expect(err.problems).toHaveLength(6);
  });

  it('names a missing pipeline', () => {
    expect(planError(() => planChain({ id: 's', pipeline: 'ghost' }, catalogue)).problems).toEqual(['pipeline: no pipeline named "ghost"']);
  });

  it('refuses to guess when nothing matches and there is no default', () => {
    const err = planError(() => planChain({ id: 's' }, { services, pipelines: pipelines.filter((p) => !p.default) }));
    expect(err.problems[0]).toMatch(/no pipeline is marked default/);
  });

  it('does not change the catalogue it read from', () => {
    planChain({ id: 's', overrides: { watermark: { text: 'x' } } }, catalogue);
    expect(pipelines[0]!.stages[0]!.params).toEqual({ text: 'livemesh' });
  });
});

describe('latency budget', () => {
  it("carries a pipeline's budget into the plan and the chain spec; without one the chain takes the default", () => {
    const withBudget = { ...catalogue, pipelines: [...pipelines, { name: 'tight', stages: [{ service: 'pixelate' }], latencyBudgetMs: 4000 } as PipelineSpec] };
    const plan = planChain({ id: 's1', pipeline: 'tight' }, withBudget);
    expect(plan.latencyBudgetMs).toBe(4000);
    expect(buildChainSpec('s1', 1, plan.stages, plan.fused, new Date(), { latencyBudgetMs: plan.latencyBudgetMs }).latencyBudgetMs).toBe(4000);
    const plain = planChain({ id: 's2', pipeline: 'default' }, catalogue);
    expect(plain.latencyBudgetMs).toBeUndefined();
    expect(buildChainSpec('s2', 1, plain.stages, plain.fused, new Date(), { latencyBudgetMs: plain.latencyBudgetMs })).not.toHaveProperty('latencyBudgetMs');
  });
});

describe('buildChainSpec', () => {
  it('gives each hop its own subject and points it at the next hop, the last at the outputs', () => {
    const spec = buildChainSpec('room-1', 3, [
      { service: 'watermark', params: { text: 'a' } },
      { service: 'transcode', params: { width: 854, height: 480 } },
      { service: 'watermark', params: { text: 'b' } },
    ], [], new Date('2025-01-01T00:00:00Z'));
    expect(spec).toEqual({
      streamId: 'room-1',
      version: 3,
      updatedAt: '2025-01-01T00:00:00.000Z',
      hops: [
        { index: 0, service: 'watermark', params: { text: 'a' }, subject: 'lm.seg.watermark.room-1.0', next: 'lm.seg.transcode.room-1.1' },
        { index: 1, service: 'transcode', params: { width: 854, height: 480 }, subject: 'lm.seg.transcode.room-1.1', next: 'lm.seg.watermark.room-1.2' },
        { index: 2, service: 'watermark', params: { text: 'b' }, subject: 'lm.seg.watermark.room-1.2', next: null },
      ],
    });
  });
});

describe('fusion', () => {
  const fusable = (name: string, exceptWith: string[] = []): ServiceSpec =>
    ({ ...service(name, { text: { type: 'string' }, image: { type: 'string' }, renditions: { type: 'array' } }), builtIn: true, fusion: { exceptWith } }) as ServiceSpec;
  const fused = new Map<string, ServiceSpec>([
    ['watermark', fusable('watermark', ['image'])],
    ['transcode', fusable('transcode', ['renditions'])],
    ['scale', fusable('scale')],
    ['audio', { ...service('audio', {}), builtIn: true } as ServiceSpec],
    ['pixelate', { ...service('pixelate', {}), fusion: {} } as ServiceSpec],
  ]);
  const stage = (s: string, params: Record<string, unknown> = {}) => ({ service: s, params });

  it('fuses runs of adjacent fusable built-ins and nothing else', () => {
    expect(fusionGroups([stage('watermark'), stage('transcode')], fused)).toEqual([[0, 1]]);
    expect(fusionGroups([stage('watermark'), stage('scale'), stage('transcode')], fused)).toEqual([[0, 1, 2]]);
    // audio copies video (no filter to share); pixelate declares fusion but is not in the worker image.
    expect(fusionGroups([stage('watermark'), stage('audio'), stage('transcode')], fused)).toEqual([]);
    expect(fusionGroups([stage('watermark'), stage('pixelate'), stage('transcode')], fused)).toEqual([]);
    expect(fusionGroups([stage('scale'), stage('audio'), stage('watermark'), stage('transcode')], fused)).toEqual([[2, 3]]);
    expect(fusionGroups([stage('transcode')], fused)).toEqual([]);
  });

  it('keeps a stage alone when it has a parameter its fusion excludes', () => {
    expect(fusionGroups([stage('watermark', { image: 'logo' }), stage('transcode')], fused)).toEqual([]);
    expect(fusionGroups([stage('watermark'), stage('transcode', { renditions: [] })], fused)).toEqual([]);
    expect(fusionGroups([stage('watermark', { image: 'logo' }), stage('scale'), stage('transcode')], fused)).toEqual([[1, 2]]);
  });

  it('plans fused groups unless the request or the pipeline says fuse: false', () => {
    const cat: CatalogueSnapshot = {
      services: fused,
      pipelines: [{ name: 'default', default: true, stages: [{ service: 'watermark' }, { service: 'transcode' }] }, { name: 'apart', fuse: false, stages: [{ service: 'watermark' }, { service: 'transcode' }] }] as PipelineSpec[],
    };
    expect(planChain({ id: 's' }, cat).fused).toEqual([[0, 1]]);
    expect(planChain({ id: 's', fuse: false }, cat).fused).toEqual([]);
    expect(planChain({ id: 's', pipeline: 'apart' }, cat).fused).toEqual([]);
    expect(planChain({ id: 's', pipeline: 'apart', fuse: true }, cat).fused).toEqual([[0, 1]]);
  });

  it('marks the head with the last hop it runs and the others with the head; every hop keeps its own wiring', () => {
    const spec = buildChainSpec('s1', 2, [stage('scale'), stage('watermark'), stage('transcode')], [[1, 2]]);
    expect(spec.hops.map((h) => [h.subject, h.next, h.fusedThrough, h.fusedInto])).toEqual([
      ['lm.seg.scale.s1.0', 'lm.seg.watermark.s1.1', undefined, undefined],
      ['lm.seg.watermark.s1.1', 'lm.seg.transcode.s1.2', 2, undefined],
      ['lm.seg.transcode.s1.2', null, undefined, 1],
    ]);
  });

  it('refuses a group that is not adjacent hops of the chain', () => {
    const three = [stage('scale'), stage('watermark'), stage('transcode')];
    expect(() => buildChainSpec('s1', 1, three, [[0, 2]])).toThrow(ChainPlanError);
    expect(() => buildChainSpec('s1', 1, three, [[2, 3]])).toThrow(ChainPlanError);
    expect(() => buildChainSpec('s1', 1, three, [[1]])).toThrow(ChainPlanError);
  });

  describe('mezzanine hand-off', () => {
    const cat = (stages: { service: string; params?: Record<string, unknown> }[], fuse?: boolean) => {
      const plan = planChain({ id: 's1', stages, fuse }, { services: fused, pipelines: [] });
      return buildChainSpec('s1', 1, plan.stages, plan.fused).hops.map((h) => h.handOff);
    };

    it('marks a hop whose segments go to a service declaring fusion; the hop before delivery never', () => {
      // fuse: false, and a logo watermark that cannot fuse: both hand the transcode a mezzanine.
      expect(cat([{ service: 'watermark' }, { service: 'transcode' }], false)).toEqual(['mezzanine', undefined]);
      expect(cat([{ service: 'watermark', params: { image: 'logo' } }, { service: 'transcode' }])).toEqual(['mezzanine', undefined]);
      expect(cat([{ service: 'watermark' }, { service: 'scale' }, { service: 'transcode' }], false)).toEqual(['mezzanine', 'mezzanine', undefined]);
      // Fused into one hop: it publishes to the outputs, so nothing hands on a mezzanine.
      expect(cat([{ service: 'watermark' }, { service: 'transcode' }])).toEqual([undefined, undefined]);
    });

    it('follows the publish target of a fused hop, not its own next', () => {
      // watermark+scale fused (head 0 publishes to hop 2), hop 2 a logo watermark, then transcode.
      const hops = (() => {
        const plan = planChain({ id: 's1', stages: [{ service: 'watermark' }, { service: 'scale' }, { service: 'watermark', params: { image: 'l' } }, { service: 'transcode' }] }, { services: fused, pipelines: [] });
        expect(plan.fused).toEqual([[0, 1]]);
        return buildChainSpec('s1', 1, plan.stages, plan.fused).hops;
      })();
      expect(hops.map((h) => [h.fusedThrough, h.fusedInto, h.handOff])).toEqual([
        [1, undefined, 'mezzanine'],
        [undefined, 0, 'mezzanine'],
        [undefined, undefined, 'mezzanine'],
        [undefined, undefined, undefined],
      ]);
      // A fused head before delivery keeps final quality even though its own `next` re-encodes.
      const plan = planChain({ id: 's1', stages: [{ service: 'scale' }, { service: 'watermark' }, { service: 'transcode' }] }, { services: fused, pipelines: [] });
      expect(buildChainSpec('s1', 1, plan.stages, [[1, 2]]).hops.map((h) => h.handOff)).toEqual(['mezzanine', undefined, undefined]);
    });

    it('hands final video to a service without fusion: only built-in video stages count as re-encoding', () => {
      // audio copies the video; the hop before it cannot know what comes after, so it keeps final quality.
      expect(cat([{ service: 'watermark' }, { service: 'audio' }, { service: 'transcode' }])).toEqual([undefined, 'mezzanine', undefined]);
      expect(cat([{ service: 'watermark' }], false)).toEqual([undefined]);
    });
  });
});

describe('transfer parameters between stages', () => {
  const cuts = { type: 'array', items: { type: 'number' } };
  const video = (s: ServiceSpec): ServiceSpec => ({ ...s, builtIn: true, fusion: {} });
  const typed = new Map<string, ServiceSpec>([
    ['detect', { ...service('detect', {}), transfer: { emits: { sceneCuts: cuts } } }],
    ['watermark', video(service('watermark', { text: { type: 'string', default: 'x' } }))],
    ['transcode', video({ ...service('transcode', {}), transfer: { reads: { sceneCuts: { schema: cuts } }, emits: { width: { type: 'integer' } } } })],
    ['keyer', { ...service('keyer', {}), transfer: { reads: { sceneCuts: { schema: cuts, required: true } } } }],
  ]);
  const cat: CatalogueSnapshot = { services: typed, pipelines: [] };

  it('refuses a stage whose required transfer parameter no earlier stage emits (422 problems name stage and parameter)', () => {
    const e = planError(() => planChain({ id: 's', stages: [{ service: 'watermark' }, { service: 'keyer' }] }, cat));
    expect(e.problems).toEqual(['stages[1].transfer.reads.sceneCuts: stage "keyer" requires transfer parameter "sceneCuts", which no stage before it emits']);
    expect(planChain({ id: 's', stages: [{ service: 'detect' }, { service: 'watermark' }, { service: 'keyer' }] }, cat).stages).toHaveLength(3);
    // Listed with the other problems, in one go; but not after an unknown service, which may be the emitter misspelt.
    expect(planError(() => planChain({ id: 's', stages: [{ service: 'watermark', params: { text: 1 } }, { service: 'keyer' }] }, cat)).problems).toHaveLength(2);
    expect(planError(() => planChain({ id: 's', stages: [{ service: 'detekt' }, { service: 'keyer' }] }, cat)).problems).toEqual(['stages[0].service: unknown service "detekt"']);
  });

  it('does not fuse a stage that reads what an earlier stage emits, and fuses it otherwise', () => {
    expect(planChain({ id: 's', stages: [{ service: 'detect' }, { service: 'watermark' }, { service: 'transcode' }] }, cat).fused).toEqual([]);
    expect(planChain({ id: 's', stages: [{ service: 'watermark' }, { service: 'transcode' }] }, cat).fused).toEqual([[0, 1]]);
  });

  it('shows in the chain spec what each hop emits and reads', () => {
    const plan = planChain({ id: 's', stages: [{ service: 'detect' }, { service: 'watermark' }, { service: 'transcode' }] }, cat);
    const chain = buildChainSpec('s', 1, plan.stages, plan.fused);
    expect(chain.hops.map((h) => h.transfer)).toEqual([
      { emits: ['sceneCuts'], reads: [] },
      undefined,
      { emits: ['width'], reads: [{ name: 'sceneCuts', required: false }] },
    ]);
  });
});
