// The public door of @livemesh/services: the built-in business services (catalogue entry + stage).
export { BUILT_IN_SERVICES, DEFAULT_PIPELINE, findBuiltIn, type BuiltInService } from './built-in.catalogue.js';
export { watermarkSpec, watermarkStage, type WatermarkParams } from './watermark.service.js';
export { transcodeSpec, transcodeStage, type TranscodeParams } from './transcode.service.js';
export { passthroughSpec, passthroughStage } from './passthrough.service.js';
