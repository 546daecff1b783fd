import type { ServiceSpec } from '@livemesh/contracts';
import type { StageDefinition } from './stage.definition.js';

/** What a catalogue entry says beyond what its stage already defines. */
export interface CatalogueInfo {
  version: string;
  description: string;
  minReplicas?: number;
  maxReplicas?: number;
  /** livemesh's own services: they share the worker image, so only they fuse. */
  builtIn?: boolean;
}

/**
 * A service's catalogue entry from its stage definition: the parameter schema, input kind,
 * transfer parameters and fusion come from the one definition the worker runs, so the catalogue cannot drift from it.
 */
export function serviceSpecOf(def: StageDefinition<object>, info: CatalogueInfo): ServiceSpec {
  return {
    name: def.name,
    version: info.version,
    description: info.description,
    paramSchema: def.params,
    input: def.input,
    ...(def.transfer ? { transfer: structuredClone(def.transfer) } : {}),
    minReplicas: info.minReplicas ?? 0,
    maxReplicas: info.maxReplicas ?? 8,
    ...(info.builtIn ? { builtIn: true } : {}),
    ...(info.builtIn && def.fusion ? { fusion: { exceptWith: [...def.fusion.exceptWith] } } : {}),
  };
}
