import { scaleFilter } from '@livemesh/media';
import { defineStage, serviceSpecOf } from '@livemesh/stage-sdk';
import { crfParam, presetParam, type StagePreset } from './encode.params.js';
import { emitsOf } from './transfer.params.js';

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

export const scaleStage = defineStage<ScaleParams>({
  name: 'scale',
  params: paramSchema,
  transfer: { emits: emitsOf('width', 'height') },
  video({ params: p }) {
    return {
      filter: scaleFilter({ width: p.width, height: p.height, keepAspect: p.keepAspect }),
      encode: { preset: p.preset, crf: p.crf },
      // Only an exact size is known without probing the output; delivery's RESOLUTION reads it.
      ...(p.keepAspect ? {} : { transfer: { width: p.width, height: p.height } }),
    };
  },
});

export const scaleSpec = serviceSpecOf(scaleStage, {
  version: '1.2.0',
  description: 'Resizes the picture (exact size, or fit inside keeping the aspect ratio); audio copied, timeline kept.',
  builtIn: true,
});
