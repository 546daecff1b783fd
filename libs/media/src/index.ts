// The public door of @livemesh/media: typed ffmpeg/ffprobe arguments, a bounded runner and a
// supervised long-running process. Imports only @livemesh/contracts and node built-ins.
export {
  MEZZANINE_ENCODE,
  carriedAudioStageArgs,
  inputArgs,
  parseSegmentListLine,
  readerArgs,
  segmentStageArgs,
  forceKeyFramesArgs,
  MAX_FORCED_KEY_FRAMES,
  x264OnSourceTimeline,
  mpegtsOnSourceTimeline,
  segmenterArgs,
  segmenterReencodeArgs,
  testSourceArgs,
  x264Args,
  type AudioEncode,
  type AudioPacketRange,
  type CarriedAudioStageOptions,
  type InputOptions,
  type ReaderOptions,
  type SegmentListEntry,
  type SegmentStageOptions,
  type SegmenterOptions,
  type TestSourceOptions,
  type UrlSource,
  type VideoEncode,
  type X264Preset,
} from './args.builder.js';
export {
  drawtextFilter,
  escapeFilterValue,
  fpsFilter,
  scaleFilter,
  type DrawtextOptions,
  type ScaleOptions,
  type TextPosition,
} from './filter.builder.js';
export { probe, runFfmpeg, runFfprobe, type ProbeOptions, type RunOptions, type RunResult } from './ffmpeg.runner.js';
export { streamStartSeconds, type ProbeFormat, type ProbeResult, type ProbeStream } from './probe.types.js';
export { DEFAULT_DIMENSION_LIMITS, assertSaneDimensions, type DimensionLimits } from './probe.guard.js';
export { readAdtsTrack, splitAdtsFrames, type AdtsTrack, type AdtsUnusable } from './ts.audio.js';
export { isInputFailure, isProgressLine } from './stderr.tail.js';
export { LineSplitter, readLines } from './line.splitter.js';
export {
  SupervisedProcess,
  type ExitInfo,
  type SupervisedProcessEvents,
  type SupervisedProcessOptions,
} from './supervised.process.js';
export {
  checkHostAddresses,
  checkOutboundAddresses,
  checkPushUrl,
  checkSourceUrl,
  parseAddressRanges,
  parseIp,
  pinnedTarget,
  pinnedUrl,
  rtmpApp,
  refusedAddress,
  type AddressLookup,
  type AddressRange,
  type CheckedPushUrl,
  type CheckedSourceUrl,
} from './source-url.policy.js';
export { checkInspection, checkTsBytes, inspectTs, type TsInspection } from './ts.inspect.js';
export {
  EnginePool,
  ResponseReader,
  WarmEngine,
  defaultEnginePath,
  encodeRequestPrefix,
  requestHeader,
  type EngineLimits,
  type EnginePoolOptions,
  type EnginePoolStats,
  type EngineResponse,
  type EngineResponseHeader,
  type SegmentTransform,
  type TransformOptions,
  type WarmEngineOptions,
} from './warm.engine.js';
export { exitOnSecondSignal, ignoreBrokenLogPipes, stopWithParent, watchParent } from './supervised.child.js';
export {
  EgressProxy,
  EgressRequestError,
  closingResponseHead,
  ffmpegNetworkEnv,
  parseAuthority,
  parseEgressRequest,
  type EgressProxyOptions,
  type EgressRequest,
} from './egress.proxy.js';
export { CLOCK_CODE, clockCodeWidth, drawClockCode, readClockCode } from './clock.code.js';
