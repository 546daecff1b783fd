// The public door of @livemesh/stage-sdk: declare a stage, run it. Connecting, consuming, acking,
// retrying, dead-lettering, heartbeats and metrics live here so a stage is only what it does.
export {
  REPORT_KINDS,
  STAGE_KIND,
  defineStage,
  describeNotAStage,
  isStageDefinition,
  type FfmpegCallOptions,
  type ParamSchema,
  type ReportKind,
  type SegmentCarry,
  type RenditionOutput,
  type SegmentScope,
  type StageContext,
  type StageFusion,
  type StageDefinition,
  type StageDefinitionInput,
  type StageLog,
  type StageOutput,
  type StageInput,
  type StageResult,
  type VideoStep,
} from './stage.definition.js';
export { checkTransferIn, checkTransferOut, transferOf } from './transfer.check.js';
export { serviceSpecOf, type CatalogueInfo } from './stage.catalogue.js';
export { defineFrameStage, type Frame, type FrameFormat, type FrameSampling, type FrameSegmentEnd, type FrameStageInput } from './frame.stage.js';
export { fpsGridFilter, sourceFrameRate } from './fps.grid.js';
export { checkSegmentBytes, probeSegment, type SegmentProbe, checkSegmentProbe } from './segment.inspect.js';
export type { Carry } from '@livemesh/bus';
export { MAX_CARRY_WAIT_MS } from './segment.carry.js';
export { composeSteps, runStage, type RunStageOptions, type StageHandle } from './stage.runner.js';
export { decideFailure, encodeFor, planPublishes, retryDelayMs, type FailureDecision, type PublishPlan } from './stage.routing.js';
