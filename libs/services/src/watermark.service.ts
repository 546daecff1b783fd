import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ServiceSpec } from '@livemesh/contracts';
import { drawtextFilter, segmentStageArgs, type TextPosition } from '@livemesh/media';
import { defineStage } from '@livemesh/stage-sdk';

export interface WatermarkParams {
  text: string;
  fontSize: number;
  color: string;
  opacity: number;
  position: TextPosition;
}

const paramSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    text: { type: 'string', minLength: 1, maxLength: 200, default: 'livemesh' },
    fontSize: { type: 'integer', minimum: 8, maximum: 200, default: 24 },
    color: { type: 'string', pattern: '^([A-Za-z]{3,20}|#[0-9A-Fa-f]{6})$', default: 'white' },
    opacity: { type: 'number', minimum: 0, maximum: 1, default: 0.8 },
    position: { type: 'string', enum: ['top-left', 'top-right', 'bottom-left', 'bottom-right', 'center'], default: 'bottom-right' },
  },
};

export const watermarkSpec: ServiceSpec = {
  name: 'watermark',
  version: '1.0.0',
  description: 'Draws a text watermark on the video; audio and timeline untouched.',
  paramSchema,
  input: 'segments',
  minReplicas: 0,
  maxReplicas: 8,
  builtIn: true,
};

export const watermarkStage = defineStage<WatermarkParams>({
  name: 'watermark',
  params: paramSchema,
  async process(ctx) {
    const { text, fontSize, color, opacity, position } = ctx.params;
    // The text goes to a file and drawtext runs with expansion=none: whatever a platform sends
    // (quotes, colons, %{...}) is printed, never parsed as filter syntax or an expression.
    const textFile = join(await ctx.workDir(), 'watermark.txt');
    await writeFile(textFile, text, 'utf8');
    const args = segmentStageArgs({
      videoFilter: drawtextFilter({ textFile, fontSize, color, opacity, position }),
      video: { preset: 'veryfast' },
      audio: 'copy',
    });
    return { data: await ctx.ffmpeg(args) };
  },
});
