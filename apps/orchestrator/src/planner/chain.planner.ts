import {
  ChainPlanError,
  pipelineMatches,
  subjects,
  validateParams,
  type ChainSpec,
  type PipelineSpec,
  type ServiceSpec,
  type StageDto,
  type StartStreamRequest,
} from '@livemesh/contracts';

/** What the planner reads from the catalogue; a plain snapshot so planning stays pure. */
export interface CatalogueSnapshot {
  services: ReadonlyMap<string, ServiceSpec>;
  pipelines: readonly PipelineSpec[];
}

/** One stage after planning: its service and complete (validated, defaults filled) parameters. */
export interface PlannedStage {
  service: string;
  params: Record<string, unknown>;
}

export interface ChainPlan {
  /** Where the stages came from, for logs: `stages`, `pipeline:<name>`. */
  source: string;
  stages: PlannedStage[];
}

export type PlanRequest = Pick<StartStreamRequest, 'id' | 'stages' | 'pipeline' | 'overrides' | 'attributes'>;

/**
 * Decides the stages of a stream: explicit stages, else the named pipeline, else the
 * highest-priority pipeline whose selectors match the attributes, else the default pipeline.
 * Overrides are laid over the chosen parameters, then every stage is checked against its
 * service's parameter schema. Every problem is collected so the caller can fix them in one go.
 */
export function planChain(request: PlanRequest, catalogue: CatalogueSnapshot): ChainPlan {
  const problems: string[] = [];
  const chosen = chooseStages(request, catalogue, problems);
  if (!chosen) throw new ChainPlanError(`cannot plan a chain for stream ${request.id}`, problems);

  const overrides = request.overrides ?? {};
  const inChain = new Set(chosen.stages.map((s) => s.service));
  for (const [service, value] of Object.entries(overrides)) {
    if (!inChain.has(service)) problems.push(`overrides.${service}: service "${service}" is not in the chain (${[...inChain].join(' -> ')})`);
    else if (value === null || typeof value !== 'object' || Array.isArray(value)) problems.push(`overrides.${service}: must be an object of parameters`);
  }

  const stages: PlannedStage[] = chosen.stages.map((stage, i) => {
    const spec = catalogue.services.get(stage.service);
    const override = overrides[stage.service];
    const merged = { ...(stage.params ?? {}), ...(isPlainObject(override) ? override : {}) };
    if (!spec) {
      problems.push(`stages[${i}].service: unknown service "${stage.service}"`);
      return { service: stage.service, params: merged };
    }
    const checked = validateParams(spec.paramSchema, merged, `stages[${i}].params`);
    problems.push(...checked.problems);
    return { service: stage.service, params: checked.params };
  });

  if (problems.length > 0) throw new ChainPlanError(`cannot plan a chain for stream ${request.id}`, problems);
  return { source: chosen.source, stages };
}

function chooseStages(
  request: PlanRequest,
  catalogue: CatalogueSnapshot,
  problems: string[],
): { source: string; stages: StageDto[] } | undefined {
  if (request.stages && request.stages.length > 0) return { source: 'stages', stages: request.stages };
  if (request.pipeline !== undefined) {
    const named = catalogue.pipelines.find((p) => p.name === request.pipeline);
    if (!named) {
      problems.push(`pipeline: no pipeline named "${request.pipeline}"`);
      return undefined;
    }
    return { source: `pipeline:${named.name}`, stages: named.stages };
  }
  // A pipeline without selectors would match every stream; only the default one may do that.
  const matching = catalogue.pipelines.filter(
    (p) => Object.keys(p.selectors ?? {}).length > 0 && pipelineMatches(p, request.attributes),
  );
  const best = byPriority(matching)[0] ?? byPriority(catalogue.pipelines.filter((p) => p.default === true))[0];
  if (!best) {
    problems.push('pipeline: no stages given, no pipeline matches the attributes and no pipeline is marked default');
    return undefined;
  }
  return { source: `pipeline:${best.name}`, stages: best.stages };
}

/** Highest priority first; the name breaks ties so the choice never depends on listing order. */
function byPriority(pipelines: readonly PipelineSpec[]): PipelineSpec[] {
  return [...pipelines].sort((a, b) => (b.priority ?? 0) - (a.priority ?? 0) || a.name.localeCompare(b.name));
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Wires planned stages into hops: hop i listens on its own subject and publishes to hop i+1's (the last to the outputs). */
export function buildChainSpec(streamId: string, version: number, stages: readonly PlannedStage[], now = new Date()): ChainSpec {
  const inputs = stages.map((s, i) => subjects.segment(s.service, streamId, i));
  return {
    streamId,
    version,
    hops: stages.map((s, i) => ({
      index: i,
      service: s.service,
      params: s.params,
      subject: inputs[i]!,
      next: inputs[i + 1] ?? null,
    })),
    updatedAt: now.toISOString(),
  };
}
