import type { ServiceSpec } from '@livemesh/contracts';
import { fpsFilter, scaleFilter, segmentStageArgs, type X264Preset } from '@livemesh/media';
import { defineStage } from '@livemesh/stage-sdk';

export interface TranscodeParams {
  width: number;
  height: number;
  videoBitrateKbps: number;
  fps?: number;
  preset: Extract<X264Preset, 'ultrafast' | 'superfast' | 'veryfast' | 'faster' | 'fast' | 'medium'>;
  rendition: string;
}

const paramSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    width: { type: 'integer', minimum: 16, maximum: 3840, multipleOf: 2, default: 854 },
    height: { type: 'integer', minimum: 16, maximum: 2160, multipleOf: 2, default: 480 },
    videoBitrateKbps: { type: 'integer', minimum: 100, maximum: 20000, default: 1200 },
    fps: { type: 'number', exclusiveMinimum: 0, maximum: 120 },
    preset: { type: 'string', enum: ['ultrafast', 'superfast', 'veryfast', 'faster', 'fast', 'medium'], default: 'veryfast' },
    rendition: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,64}$', default: 'main' },
  },
};

export const transcodeSpec: ServiceSpec = {
  name: 'transcode',
  version: '1.0.0',
  description: 'Scales and re-encodes video (H.264) to one rendition; audio copied, timeline kept.',
  paramSchema,
  input: 'segments',
  minReplicas: 0,
  maxReplicas: 8,
  builtIn: true,
};

export const transcodeStage = defineStage<TranscodeParams>({
  name: 'transcode',
  params: paramSchema,
  async process(ctx) {
    const p = ctx.params;
    // Exact size rather than fit-inside: a rendition ladder promises players these dimensions.
    const filters = [scaleFilter({ width: p.width, height: p.height, keepAspect: false })];
    if (p.fps !== undefined) filters.push(fpsFilter(p.fps));
    const args = segmentStageArgs({
      videoFilter: filters.join(','),
      video: { preset: p.preset, bitrateKbps: p.videoBitrateKbps },
      audio: 'copy',
    });
    return { data: await ctx.ffmpeg(args), rendition: p.rendition };
  },
});
