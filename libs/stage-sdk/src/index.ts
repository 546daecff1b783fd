// The public door of @livemesh/stage-sdk: declare a stage, run it. Connecting, consuming, acking,
// retrying, dead-lettering, heartbeats and metrics live here so a stage is only what it does.
export {
  STAGE_KIND,
  defineStage,
  describeNotAStage,
  isStageDefinition,
  type ParamSchema,
  type RenditionOutput,
  type StageContext,
  type StageDefinition,
  type StageDefinitionInput,
  type StageLog,
  type StageOutput,
  type StageResult,
} from './stage.definition.js';
export { runStage, type RunStageOptions, type StageHandle } from './stage.runner.js';
export { decideFailure, planPublishes, retryDelayMs, type FailureDecision, type PublishPlan } from './stage.routing.js';
