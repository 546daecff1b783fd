import type { ServiceSpec } from '@livemesh/contracts';
import { segmentStageArgs } from '@livemesh/media';
import { defineStage, fpsGridFilter, sourceFrameRate } from '@livemesh/stage-sdk';
import { crfParam, presetParam, type StagePreset } from './encode.params.js';

export interface FpsParams {
  fps: number;
  crf: number;
  preset: StagePreset;
}

const paramSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    fps: { type: 'number', exclusiveMinimum: 0, maximum: 120, default: 25 },
    crf: crfParam,
    preset: presetParam,
  },
};

export const fpsSpec: ServiceSpec = {
  name: 'fps',
  version: '1.0.0',
  description: 'Changes the frame rate (drops or repeats frames on the source timeline); audio copied.',
  paramSchema,
  input: 'segments',
  minReplicas: 0,
  maxReplicas: 8,
  builtIn: true,
};

export const fpsStage = defineStage<FpsParams>({
  name: 'fps',
  params: paramSchema,
  async process(ctx) {
    const p = ctx.params;
    // Frames on a grid of 1/fps counted from 0 on the source timeline (copyts), not from the
    // segment's start, so neighbouring segments share the grid and join without a gap or a repeat.
    const args = segmentStageArgs({ videoFilter: fpsGridFilter(p.fps, sourceFrameRate(await ctx.probe())), video: { preset: p.preset, crf: p.crf }, audio: 'copy' });
    return { data: await ctx.ffmpeg(args), transfer: { ...ctx.transfer, fps: p.fps } };
  },
});
