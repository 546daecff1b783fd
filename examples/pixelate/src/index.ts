// The pixelate service: its stage is this module's default export, which is all a worker needs
// (LIVEMESH_STAGE_MODULE=<path to dist/index.js>).
import { defineStage } from '@livemesh/stage-sdk';
import { pixelateFilter, type PixelateParams } from './pixelate.filter.js';

/** The catalogue entry's parameter schema (`livemesh service register -f` / PUT /api/services/pixelate takes it). */
export const paramSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    x: { type: 'integer', minimum: 0, maximum: 7680, default: 0 },
    y: { type: 'integer', minimum: 0, maximum: 4320, default: 0 },
    w: { type: 'integer', minimum: 8, maximum: 7680, default: 160 },
    h: { type: 'integer', minimum: 8, maximum: 4320, default: 90 },
    blockSize: { type: 'integer', minimum: 2, maximum: 128, default: 16 },
  },
};

export default defineStage<PixelateParams>({
  name: 'pixelate',
  params: paramSchema,
  // A filter and an encode: the SDK runs it on the worker's warm media engine.
  video: (ctx) => ({ filter: pixelateFilter(ctx.params), encode: { preset: 'veryfast' } }),
});
