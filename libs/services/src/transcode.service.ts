import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { scaleFilter } from '@livemesh/media';
import { defineStage, fpsGridFilter, serviceSpecOf, sourceFrameRate, type RenditionOutput } from '@livemesh/stage-sdk';
import { ladderStageArgs, type LadderRung } from './ladder.args.js';
import { presetParam, type StagePreset } from './encode.params.js';

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

export const transcodeStage = defineStage<TranscodeParams>({
  name: 'transcode',
  params: paramSchema,
  // A ladder has one output per rung: more than one filter chain and encode can say.
  exceptWith: ['renditions'],
  video(ctx) {
    const p = ctx.params;
    if (p.renditions) return undefined;
    // Exact size rather than fit-inside: a rendition ladder promises players these dimensions.
    const filters = [scaleFilter({ width: p.width, height: p.height, keepAspect: false })];
    if (p.fps !== undefined) filters.push(fpsGridFilter(p.fps, ctx.media.video?.fps));
    return {
      filter: filters.join(','),
      encode: { preset: p.preset, bitrateKbps: p.videoBitrateKbps },
      rendition: p.rendition,
      // width/height travel on so delivery can write RESOLUTION into the multivariant playlist.
      transfer: { width: p.width, height: p.height },
    };
  },
  async process(ctx) {
    const p = ctx.params;
    const sourceFps = p.fps === undefined ? undefined : (ctx.media.video?.fps ?? sourceFrameRate(await ctx.probe()));
    return ladder(p, sourceFps, ctx.transfer, ctx.workDir, ctx.ffmpeg);
  },
});

export const transcodeSpec = serviceSpecOf(transcodeStage, {
  version: '1.2.0',
  description: 'Scales and re-encodes video (H.264) to one rendition or an ABR ladder of up to four; audio copied, timeline kept.',
  builtIn: true,
});

/** All rungs from one decode: the last rung on stdout, the others in files of the segment's work dir. */
async function ladder(
  p: TranscodeParams,
  sourceFps: number | undefined,
  transfer: Record<string, unknown>,
  workDir: () => Promise<string>,
  ffmpeg: (args: string[]) => Promise<Uint8Array>,
): Promise<RenditionOutput[]> {
  // ladderStageArgs refuses a rung name given twice, before anything runs.
  const rungs = p.renditions!.map((r) => ({ ...r, videoBitrateKbps: r.videoBitrateKbps ?? 1200 }));
  const dir = rungs.length > 1 ? await workDir() : '';
  const targets = rungs.map((_, i) => (i === rungs.length - 1 ? 'pipe:1' : join(dir, `rung${i}.ts`)));
  const last = await ffmpeg(ladderStageArgs({ rungs, preset: p.preset, fps: p.fps, sourceFps, targets }));
  return Promise.all(
    rungs.map(async (r, i) => ({
      rendition: r.name,
      data: i === rungs.length - 1 ? last : new Uint8Array(await readFile(targets[i]!)),
      transfer: { ...transfer, width: r.width, height: r.height, videoBitrateKbps: r.videoBitrateKbps },
    })),
  );
}
