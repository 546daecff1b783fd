// The public door of @livemesh/services: the built-in business services (catalogue entry + stage).
export { BUILT_IN_SERVICES, DEFAULT_PIPELINE, findBuiltIn, type BuiltInService } from './built-in.catalogue.js';
export { overlayGraph, watermarkSpec, watermarkStage, type WatermarkParams } from './watermark.service.js';
export { transcodeSpec, transcodeStage, type TranscodeParams } from './transcode.service.js';
export { passthroughSpec, passthroughStage } from './passthrough.service.js';
export { scaleSpec, scaleStage, type ScaleParams } from './scale.service.js';
export { fpsSpec, fpsStage, type FpsParams } from './fps.service.js';
export { audioSpec, audioStage, nextGainDb, parseIntegratedLoudness, volumeRamp, type AudioParams } from './audio.service.js';
export { thumbnailBlobNames, thumbnailSpec, thumbnailStage, type ThumbnailParams } from './thumbnail.service.js';
export { detectSpec, detectStage, parseDetections, type Detection, type DetectionType, type DetectParams } from './detect.service.js';
export { ladderStageArgs, type LadderOptions, type LadderRung } from './ladder.args.js';
