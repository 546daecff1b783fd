import type { PipelineSpec, ServiceSpec } from '@livemesh/contracts';
import { BUILT_IN_SERVICES, DEFAULT_PIPELINE } from '@livemesh/services';

/** Injection token of what livemesh ships in the catalogue. */
export const BUILT_IN_CATALOGUE = Symbol('BUILT_IN_CATALOGUE');

export interface BuiltInCatalogue {
  services: ServiceSpec[];
  /** The pipeline every stream gets when nothing else is asked for or matches. */
  defaultPipeline: PipelineSpec;
}

/** The built-in services' catalogue entries (their stages run in workers, not here) and the default pipeline. */
export function builtInCatalogue(): BuiltInCatalogue {
  return { services: BUILT_IN_SERVICES.map((s) => s.spec), defaultPipeline: DEFAULT_PIPELINE };
}
