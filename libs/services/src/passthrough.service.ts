import type { ServiceSpec } from '@livemesh/contracts';
import { defineStage } from '@livemesh/stage-sdk';

export const passthroughSpec: ServiceSpec = {
  name: 'passthrough',
  version: '1.0.0',
  description: 'Passes segments on unchanged: measures the mesh itself (tests, benchmarks).',
  paramSchema: { type: 'object', properties: {}, additionalProperties: false },
  input: 'segments',
  minReplicas: 0,
  maxReplicas: 8,
  builtIn: true,
};

export const passthroughStage = defineStage({
  name: 'passthrough',
  params: passthroughSpec.paramSchema,
  // It never decodes, so probing each segment would only cost time (benchmarks measure the bus with it).
  inspect: false,
  process: (ctx) => ({ data: ctx.segment.data }),
});
