// The public door of @livemesh/contracts: subjects, messages, DTOs and errors. Imports no other lib.
export {
  BUCKETS,
  STREAMS,
  STREAM_EVENT_KINDS,
  TOKEN_PATTERN,
  assertToken,
  consumers,
  isToken,
  parseOutputSubject,
  parseSegmentSubject,
  statusKey,
  carryKey,
  subjects,
  type StreamEventKind,
} from './subjects.js';
export {
  BadSegmentError,
  BusError,
  type BusErrorReason,
  ChainPlanError,
  ConfigError,
  EngineCrashedError,
  InvalidNameError,
  LivemeshError,
  MediaInputError,
  MediaProcessError,
  MediaTimeoutError,
  NotFoundError,
  QuotaExceededError,
  type QuotaName,
  RuntimeError,
  SourceUrlError,
  StageTimeoutError,
  ValidationFailedError,
} from './errors.js';
export { decodeMessage, describeValidationErrors, validateMessage } from './validate.js';
export {
  ChangeChainRequest,
  OutputsDto,
  SourceDto,
  StageDto,
  StartStreamRequest,
  StopStreamRequest,
  type DeliveryStatus,
  type IngestStatus,
  type StreamRecord,
  type StreamState,
  type StreamView,
} from './stream.js';
export {
  DEFAULT_BUDGET_SEGMENTS,
  MAX_LATENCY_BUDGET_MS,
  MIN_LATENCY_BUDGET_MS,
  executingHops,
  latencyBudgetMs,
  publishTarget,
  type ChainSpec,
  type HandOff,
  type HopSpec,
} from './chain.js';
export {
  DEFAULT_RENDITION,
  GAP_REASONS,
  INPUT_KINDS,
  SEGMENT_HEADERS,
  SegmentMeta,
  segmentMsgId,
  type GapReason,
  type InputKind,
  type Segment,
} from './segment.js';
export type {
  ChainData,
  DeadLetterData,
  DetectionData,
  EndedData,
  FailedData,
  NewStreamEvent,
  NoData,
  PublishEndedData,
  PublishingData,
  SegmentFailedData,
  SegmentsDroppedData,
  StreamEvent,
  StreamEventData,
  StreamEventHeader,
  StreamEventOf,
  ThumbnailData,
  WorkerHeartbeat,
} from './events.js';
export { STREAM_EVENT_FIELDS } from './events.js';
export { FusionDto, ScaleRequest, ServiceRunDto, ServiceSpec } from './service.js';
export { PipelineSpec, pipelineMatches } from './pipeline.js';
export type { BucketName, BucketValue, BucketValues, CatalogueValue, IngestCursor, ScaleRecord, StreamKeyEntry } from './buckets.js';
export { checkParamSchema, validateParams } from './params.js';
export { Env, envWasSet, loadEnv } from './env.js';
