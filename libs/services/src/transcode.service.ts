import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { scaleFilter, segmentStageArgs } from '@livemesh/media';
import { defineStage, encodeFor, fpsGridFilter, serviceSpecOf, sourceFrameRate, transferOf, type RenditionOutput, type SegmentScope } from '@livemesh/stage-sdk';
import { ladderStageArgs, type LadderRung } from './ladder.args.js';
import { presetParam, type StagePreset } from './encode.params.js';
import { TRANSFER_SCHEMAS, emitsOf } from './transfer.params.js';

export interface TranscodeParams {
  width: number;
  height: number;
  videoBitrateKbps: number;
  fps?: number;
  preset: StagePreset;
  rendition: string;
  /** An ABR ladder: when given, each rung is one rendition and width/height/bitrate/rendition above are not used. */
  renditions?: LadderRung[];
}

const size = (max: number, dflt?: number) => ({ type: 'integer', minimum: 16, maximum: max, multipleOf: 2, ...(dflt ? { default: dflt } : {}) });
const bitrate = { type: 'integer', minimum: 100, maximum: 20000, default: 1200 };
const rendition = { type: 'string', pattern: '^[A-Za-z0-9_-]{1,64}$' };

const paramSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    width: size(3840, 854),
    height: size(2160, 480),
    videoBitrateKbps: bitrate,
    fps: { type: 'number', exclusiveMinimum: 0, maximum: 120 },
    preset: presetParam,
    rendition: { ...rendition, default: 'main' },
    renditions: {
      type: 'array',
      minItems: 1,
      // Every rung is a full encode of the segment within one ffmpeg run: four keeps a 2 s
      // segment inside its 2 s budget on one core at the sizes a live ladder uses.
      maxItems: 4,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['name', 'width', 'height'],
        properties: { name: rendition, width: size(3840), height: size(2160), videoBitrateKbps: bitrate },
      },
    },
  },
};

/** What transcode reads from the hops before it. */
interface TranscodeTransfer {
  sceneCuts: number[];
}

/** The scene cuts (detect's) to force key frames at; empty when none came. */
function sceneCuts(ctx: Pick<SegmentScope<object>, 'transfer'>): number[] {
  return transferOf<TranscodeTransfer>(ctx).sceneCuts ?? [];
}

/** The single-rendition step: one filter chain and one encode. */
function singleStep(p: TranscodeParams, sourceFps: number | undefined) {
  // Exact size rather than fit-inside: a rendition ladder promises players these dimensions.
  const filters = [scaleFilter({ width: p.width, height: p.height, keepAspect: false })];
  if (p.fps !== undefined) filters.push(fpsGridFilter(p.fps, sourceFps));
  return {
    filter: filters.join(','),
    encode: { preset: p.preset, bitrateKbps: p.videoBitrateKbps },
    rendition: p.rendition,
    // width/height travel on so delivery can write RESOLUTION into the multivariant playlist.
    transfer: { width: p.width, height: p.height },
  };
}

export const transcodeStage = defineStage<TranscodeParams>({
  name: 'transcode',
  params: paramSchema,
  // A ladder has one output per rung: more than one filter chain and encode can say.
  exceptWith: ['renditions'],
  transfer: {
    emits: emitsOf('width', 'height', 'videoBitrateKbps'),
    // detect's scene cuts, when a detect hop runs before: a key frame at each cut.
    reads: { sceneCuts: { schema: structuredClone(TRANSFER_SCHEMAS.sceneCuts) } },
  },
  video(ctx) {
    const p = ctx.params;
    // Forced key frames need the encoder's own options: process runs ffmpeg with them.
    if (p.renditions || sceneCuts(ctx).length > 0) return undefined;
    return singleStep(p, ctx.media.video?.fps);
  },
  async process(ctx) {
    const p = ctx.params;
    const sourceFps = p.fps === undefined ? undefined : (ctx.media.video?.fps ?? sourceFrameRate(await ctx.probe()));
    const cuts = sceneCuts(ctx);
    if (p.renditions) return ladder(p, sourceFps, cuts, ctx.transfer, ctx.workDir, ctx.ffmpeg);
    const step = singleStep(p, sourceFps);
    const data = await ctx.ffmpeg(segmentStageArgs({ videoFilter: step.filter, video: encodeFor(ctx, step.encode), audio: 'copy', forceKeyFramesAt: cuts }));
    return { data, rendition: step.rendition, transfer: step.transfer };
  },
});

export const transcodeSpec = serviceSpecOf(transcodeStage, {
  version: '1.3.0',
  description: 'Scales and re-encodes video (H.264) to one rendition or an ABR ladder of up to four, with a key frame at each scene cut detect handed on; audio copied, timeline kept.',
  builtIn: true,
});

/** All rungs from one decode: the last rung on stdout, the others in files of the segment's work dir. */
async function ladder(
  p: TranscodeParams,
  sourceFps: number | undefined,
  forceKeyFramesAt: number[],
  transfer: Record<string, unknown>,
  workDir: () => Promise<string>,
  ffmpeg: (args: string[]) => Promise<Uint8Array>,
): Promise<RenditionOutput[]> {
  // ladderStageArgs refuses a rung name given twice, before anything runs.
  const rungs = p.renditions!.map((r) => ({ ...r, videoBitrateKbps: r.videoBitrateKbps ?? 1200 }));
  const dir = rungs.length > 1 ? await workDir() : '';
  const targets = rungs.map((_, i) => (i === rungs.length - 1 ? 'pipe:1' : join(dir, `rung${i}.ts`)));
  const last = await ffmpeg(ladderStageArgs({ rungs, preset: p.preset, fps: p.fps, sourceFps, targets, forceKeyFramesAt }));
  return Promise.all(
    rungs.map(async (r, i) => ({
      rendition: r.name,
      data: i === rungs.length - 1 ? last : new Uint8Array(await readFile(targets[i]!)),
      transfer: { ...transfer, width: r.width, height: r.height, videoBitrateKbps: r.videoBitrateKbps },
    })),
  );
}
