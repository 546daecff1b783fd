import { defineStage, fpsGridFilter, serviceSpecOf } from '@livemesh/stage-sdk';
import { crfParam, presetParam, type StagePreset } from './encode.params.js';
import { emitsOf } from './transfer.params.js';

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

export const fpsStage = defineStage<FpsParams>({
  name: 'fps',
  params: paramSchema,
  transfer: { emits: emitsOf('fps') },
  video({ params: p, media }) {
    // Frames on a grid of 1/fps counted from 0 on the source timeline (copyts), not from the
    // segment's start, so neighbouring segments share the grid and join without a gap or a repeat.
    return { filter: fpsGridFilter(p.fps, media.video?.fps), encode: { preset: p.preset, crf: p.crf }, transfer: { fps: p.fps } };
  },
});

export const fpsSpec = serviceSpecOf(fpsStage, {
  version: '1.2.0',
  description: 'Changes the frame rate (drops or repeats frames on the source timeline); audio copied.',
  builtIn: true,
});
