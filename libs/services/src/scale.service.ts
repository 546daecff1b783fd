import type { ServiceSpec } from '@livemesh/contracts';
import { scaleFilter, segmentStageArgs } from '@livemesh/media';
import { defineStage } from '@livemesh/stage-sdk';
import { crfParam, presetParam, type StagePreset } from './encode.params.js';

export interface ScaleParams {
  width: number;
  height: number;
  /** Fit inside width x height keeping the picture's shape, instead of stretching to exactly that size. */
  keepAspect: boolean;
  crf: number;
  preset: StagePreset;
}

const paramSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    width: { type: 'integer', minimum: 16, maximum: 3840, multipleOf: 2, default: 640 },
    height: { type: 'integer', minimum: 16, maximum: 2160, multipleOf: 2, default: 360 },
    keepAspect: { type: 'boolean', default: false },
    crf: crfParam,
    preset: presetParam,
  },
};

export const scaleSpec: ServiceSpec = {
  name: 'scale',
  version: '1.0.0',
  description: 'Resizes the picture (exact size, or fit inside keeping the aspect ratio); audio copied, timeline kept.',
  paramSchema,
  input: 'segments',
  minReplicas: 0,
  maxReplicas: 8,
  builtIn: true,
};

export const scaleStage = defineStage<ScaleParams>({
  name: 'scale',
  params: paramSchema,
  async process(ctx) {
    const p = ctx.params;
    const args = segmentStageArgs({
      videoFilter: scaleFilter({ width: p.width, height: p.height, keepAspect: p.keepAspect }),
      video: { preset: p.preset, crf: p.crf },
      audio: 'copy',
    });
    const data = await ctx.ffmpeg(args);
    // Only an exact size is known without probing the output; delivery's RESOLUTION reads it.
    return p.keepAspect ? { data } : { data, transfer: { ...ctx.transfer, width: p.width, height: p.height } };
  },
});
