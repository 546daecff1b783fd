import { BadSegmentError, MediaInputError, MediaProcessError, MediaTimeoutError, ValidationFailedError, subjects, type ChainSpec, type SegmentMeta } from '@livemesh/contracts';
import { MEZZANINE_ENCODE, type SegmentTransform } from '@livemesh/media';
import { defineStage, runVideoStep, type StageContext } from './stage.definition.js';
import { composeSteps } from './stage.runner.js';
import { decideFailure, encodeFor, fusedMembers, headerSafe, hopFor, isBytes, planPublishes, retryDelayMs } from './stage.routing.js';

const meta: SegmentMeta = { streamId: 's1', seq: 7, hop: 0, rendition: 'main', pts: 14.02, duration: 2, ingestTime: 1000, epoch: 0, chainVersion: 1, transfer: { faces: 2 } };
const chain: ChainSpec = {
  streamId: 's1',
  version: 3,
  updatedAt: '2026-01-01T00:00:00Z',
  hops: [
    { index: 0, service: 'watermark', params: {}, subject: subjects.segment('watermark', 's1', 0), next: subjects.segment('transcode', 's1', 1) },
    { index: 1, service: 'transcode', params: {}, subject: subjects.segment('transcode', 's1', 1), next: null },
  ],
};
const bytes = new Uint8Array([1, 2, 3]);

describe('planPublishes', () => {
  it('sends a single result to the next hop with the timeline, seq and transfer kept', () => {
    const [p, ...rest] = planPublishes(meta, chain, chain.hops[0]!, { data: bytes });
    expect(rest).toHaveLength(0);
    expect(p!.subject).toBe(subjects.segment('transcode', 's1', 1));
    expect(p!.kind).toBe('seg');
    expect(p!.segment.meta).toMatchObject({ streamId: 's1', seq: 7, hop: 1, rendition: 'main', pts: 14.02, duration: 2, ingestTime: 1000, chainVersion: 3, transfer: { faces: 2 } });
    expect(p!.segment.meta.blob).toBeUndefined();
  });

  it('sends the last hop to the output subject of the rendition and lays the transfer it emits over what came in', () => {
    const [p] = planPublishes({ ...meta, hop: 1 }, chain, chain.hops[1]!, { data: bytes, rendition: 'r480', transfer: { x: 1 } });
    expect(p!.subject).toBe(subjects.output('s1', 'r480'));
    expect(p!.kind).toBe('out');
    expect(p!.segment.meta).toMatchObject({ hop: 1, rendition: 'r480' });
    // Carried forward: what an earlier hop emitted reaches every later one (contracts transfer.ts).
    expect(p!.segment.meta.transfer).toEqual({ faces: 2, x: 1 });
  });

  it('fans an ABR ladder out, each rendition on its own to the same next subject', () => {
    const plans = planPublishes(meta, chain, chain.hops[0]!, [
      { rendition: 'hi', data: bytes },
      { rendition: 'lo', data: bytes },
    ]);
    expect(plans.map((p) => [p.subject, p.segment.meta.rendition])).toEqual([
      [subjects.segment('transcode', 's1', 1), 'hi'],
      [subjects.segment('transcode', 's1', 1), 'lo'],
    ]);
  });

  it.each([
    ['no renditions', []],
    ['duplicate renditions', [{ rendition: 'a', data: bytes }, { rendition: 'a', data: bytes }]],
    ['a rendition that is not a token', [{ rendition: 'a.b', data: bytes }]],
    ['empty data', { data: new Uint8Array(0) }],
    ['data that is not bytes', { data: 'text' }],
    ['a transfer that is not an object', { data: bytes, transfer: [1] }],
  ])('refuses %s', (_what, result) => {
    expect(() => planPublishes(meta, chain, chain.hops[0]!, result as never)).toThrow(ValidationFailedError);
  });
});

describe('hopFor', () => {
  it('finds the hop of this service', () => expect(hopFor(chain, 'transcode', 1).index).toBe(1));
  it('refuses a hop that moved to another service or no longer exists', () => {
    expect(() => hopFor(chain, 'watermark', 1)).toThrow(/no hop 1 for watermark/);
    expect(() => hopFor(chain, 'watermark', 5)).toThrow(ValidationFailedError);
    expect(() => hopFor({ streamId: 's1' } as ChainSpec, 'watermark', 0)).toThrow(/malformed/);
  });
});

describe('failure handling', () => {
  it('backs off exponentially from 500 ms, capped', () => {
    expect([1, 2, 3, 4].map((n) => retryDelayMs(n))).toEqual([500, 1000, 2000, 4000]);
    expect(retryDelayMs(30)).toBe(30_000);
  });

  it('retries a failure while attempts are left, then dead-letters it', () => {
    const e = new MediaProcessError('ffmpeg crashed', '', 1);
    expect(decideFailure(e, 1, 3)).toEqual({ action: 'retry', delayMs: 500 });
    expect(decideFailure(new MediaTimeoutError('slow', '', null), 2, 3)).toEqual({ action: 'retry', delayMs: 1000 });
    expect(decideFailure(e, 3, 3)).toMatchObject({ action: 'dead-letter' });
    expect(decideFailure(new Error('boom'), 1, 1)).toMatchObject({ action: 'dead-letter' });
  });

  it('dead-letters at once what another attempt cannot fix', () => {
    for (const e of [new MediaInputError('corrupt', '', 1), new BadSegmentError('no headers'), new ValidationFailedError('params', ['x'])]) {
      expect(decideFailure(e, 1, 5)).toMatchObject({ action: 'dead-letter' });
    }
  });

  it('makes any message a one-line header value', () => {
    expect(headerSafe('a\r\nb\tc é')).toBe('a b c ?');
    expect(headerSafe('x'.repeat(2000), 10)).toBe('xxxxxxx...');
  });

  it('recognises bytes from any realm', () => {
    expect(isBytes(Buffer.from('x'))).toBe(true);
    expect(isBytes(new Uint8Array(1))).toBe(true);
    expect(isBytes(new Uint16Array(1))).toBe(false);
    expect(isBytes('x')).toBe(false);
  });
});

describe('fused hops', () => {
  const fusedChain: ChainSpec = {
    ...chain,
    hops: [{ ...chain.hops[0]!, fusedThrough: 1 }, { ...chain.hops[1]!, fusedInto: 0 }],
  };
  const video = (name: string) => defineStage({ name, video: () => ({ filter: `${name}=1`, encode: { preset: 'veryfast' } }) });
  const watermark = video('watermark');
  const transcode = video('transcode');

  it('publishes where the last fused hop would, under its hop number', () => {
    const [p] = planPublishes(meta, fusedChain, fusedChain.hops[0]!, { data: bytes, rendition: 'r480' });
    expect(p!.subject).toBe(subjects.output('s1', 'r480'));
    expect(p!.kind).toBe('out');
    expect(p!.segment.meta.hop).toBe(1);
  });

  it('finds every fused stage among the peers, and refuses what this worker cannot run', () => {
    const peers = (s: string) => (s === 'transcode' ? transcode : undefined);
    expect(fusedMembers(fusedChain, fusedChain.hops[0]!, watermark, peers).map((m) => [m.hop.index, m.def.name])).toEqual([[0, 'watermark'], [1, 'transcode']]);
    expect(fusedMembers(chain, chain.hops[0]!, watermark).map((m) => m.def.name)).toEqual(['watermark']);
    expect(() => fusedMembers(fusedChain, fusedChain.hops[0]!, watermark)).toThrow(ValidationFailedError);
    const plain = defineStage({ name: 'transcode', process: (ctx) => ({ data: ctx.segment.data }) });
    expect(() => fusedMembers(fusedChain, fusedChain.hops[0]!, watermark, () => plain)).toThrow(/not a video stage/);
  });

  it('composes steps: filters in chain order, the last encode, the last rendition, transfers laid over', () => {
    expect(
      composeSteps([
        { filter: 'drawtext=x', encode: { preset: 'veryfast', crf: 23 }, transfer: { a: 1, w: 1 } },
        { filter: '', encode: { preset: 'ultrafast' } },
        { filter: 'scale=854:480', encode: { preset: 'veryfast', bitrateKbps: 1200 }, rendition: 'r480', transfer: { w: 854 } },
      ]),
    ).toEqual({ filter: 'drawtext=x,scale=854:480', encode: { preset: 'veryfast', bitrateKbps: 1200 }, rendition: 'r480', transfer: { a: 1, w: 854 } });
  });
});

describe('mezzanine hand-off', () => {
  const own = { preset: 'veryfast', crf: 23 } as const;
  /** A context whose transform records what it was asked to do. */
  const recording = (handOff: StageContext['handOff']) => {
    const asked: SegmentTransform[] = [];
    const ctx = { handOff, transfer: {}, params: {}, transform: async (t: SegmentTransform) => (asked.push(t), bytes) };
    return { asked, ctx: ctx as unknown as StageContext };
  };

  it('encodes with the stage\'s own settings unless the hop hands on a mezzanine', () => {
    expect(encodeFor({}, own)).toBe(own);
    expect(encodeFor({ handOff: 'final' }, own)).toBe(own);
    expect(encodeFor({ ...chain.hops[0]!, handOff: 'mezzanine' }, own)).toEqual(MEZZANINE_ENCODE);
    expect(MEZZANINE_ENCODE).not.toEqual(own);
  });

  it('runs a video stage with the mezzanine encode when asked, and its own before delivery', async () => {
    const stage = defineStage({ name: 'wm', video: () => ({ filter: 'drawtext=x', encode: own }) });
    for (const [handOff, encode] of [['mezzanine', MEZZANINE_ENCODE], ['final', own]] as const) {
      const { asked, ctx } = recording(handOff);
      await stage.process(ctx);
      expect(asked).toEqual([{ videoFilter: 'drawtext=x', video: encode, audio: 'copy' }]);
    }
  });

  it('replaces a fused hop\'s last encode, keeping its filters and rendition', async () => {
    const { asked, ctx } = recording('mezzanine');
    const out = await runVideoStep(ctx, composeSteps([{ filter: 'drawtext=x', encode: own }, { filter: 'scale=854:480', encode: { bitrateKbps: 1200 }, rendition: 'r480' }]));
    expect(asked).toEqual([{ videoFilter: 'drawtext=x,scale=854:480', video: MEZZANINE_ENCODE, audio: 'copy' }]);
    expect(out.rendition).toBe('r480');
  });
});
