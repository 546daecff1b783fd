import type { PipelineSpec, ServiceSpec } from '@livemesh/contracts';
import type { StageDefinition } from '@livemesh/stage-sdk';
import { audioSpec, audioStage } from './audio.service.js';
import { detectSpec, detectStage } from './detect.service.js';
import { fpsSpec, fpsStage } from './fps.service.js';
import { passthroughSpec, passthroughStage } from './passthrough.service.js';
import { scaleSpec, scaleStage } from './scale.service.js';
import { thumbnailSpec, thumbnailStage } from './thumbnail.service.js';
import { transcodeSpec, transcodeStage } from './transcode.service.js';
import { watermarkSpec, watermarkStage } from './watermark.service.js';

export interface BuiltInService {
  spec: ServiceSpec;
  /** Each stage has its own parameter type; the runner checks params against its schema. */
  stage: StageDefinition<object>;
}

/** The services livemesh ships; the orchestrator seeds them into the catalogue at boot. */
export const BUILT_IN_SERVICES: readonly BuiltInService[] = Object.freeze([
  { spec: watermarkSpec, stage: watermarkStage },
  { spec: transcodeSpec, stage: transcodeStage },
  { spec: scaleSpec, stage: scaleStage },
  { spec: fpsSpec, stage: fpsStage },
  { spec: audioSpec, stage: audioStage },
  { spec: thumbnailSpec, stage: thumbnailStage },
  { spec: detectSpec, stage: detectStage },
  { spec: passthroughSpec, stage: passthroughStage },
]);

export function findBuiltIn(name: string): BuiltInService | undefined {
  return BUILT_IN_SERVICES.find((s) => s.spec.name === name);
}

/** The pipeline a stream gets when no selector matches and the request names none. */
export const DEFAULT_PIPELINE: PipelineSpec = {
  name: 'default',
  default: true,
  stages: [
    { service: 'watermark', params: { text: 'livemesh' } },
    { service: 'transcode', params: { width: 854, height: 480 } },
  ],
};
