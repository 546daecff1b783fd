import { defineStage, serviceSpecOf } from '@livemesh/stage-sdk';

export const passthroughStage = defineStage({
  name: 'passthrough',
  // It never decodes, so inspecting each segment would only cost time (benchmarks measure the bus with it).
  inspect: false,
  process: (ctx) => ({ data: ctx.segment.data }),
});

export const passthroughSpec = serviceSpecOf(passthroughStage, {
  version: '1.0.0',
  description: 'Passes segments on unchanged: measures the mesh itself (tests, benchmarks).',
  builtIn: true,
});
