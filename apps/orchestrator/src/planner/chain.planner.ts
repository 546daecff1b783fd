import {
  ChainPlanError,
  hopTransferOf,
  pipelineMatches,
  publishTarget,
  subjects,
  transferFitProblems,
  transferSources,
  validateParams,
  type ChainSpec,
  type HopSpec,
  type PipelineSpec,
  type ServiceSpec,
  type StageDto,
  type StartStreamRequest,
  type TransferDecl,
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
  /**
   * Set when the service re-encodes the video it receives, which the planner takes to be a
   * service whose catalogue spec declares `fusion` (the built-in video stages): the hop before it
   * then hands on a mezzanine (HopSpec.handOff).
   */
  reencodesVideo?: true;
  /** The transfer parameters its service emits and reads (ServiceSpec.transfer), when it declares any. */
  transfer?: TransferDecl;
}

export interface ChainPlan {
  /** Where the stages came from, for logs: `stages`, `pipeline:<name>`. */
  source: string;
  stages: PlannedStage[];
  /**
   * Groups of adjacent stage indices that run as one hop (each of two or more stages); empty
   * when nothing fuses or the request or pipeline said `fuse: false`.
   */
  fused: number[][];
  /** The pipeline's latency budget (ms), when it set one; else the chain takes the default. */
  latencyBudgetMs?: number;
}

export type PlanRequest = Pick<StartStreamRequest, 'id' | 'stages' | 'pipeline' | 'overrides' | 'attributes' | 'fuse'>;

/**
 * Decides the stages of a stream: explicit stages, else the named pipeline, else the
 * highest-priority pipeline whose selectors match the attributes, else the default pipeline.
 * Overrides are laid over the chosen parameters, then every stage is checked against its
 * service's parameter schema, and adjacent stages are checked to fit on transfer parameters (a
 * required one emitted earlier in the chain, with a schema that fits: transferFitProblems).
 * Every problem is collected so the caller can fix them in one go.
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
    return {
      service: stage.service,
      params: checked.params,
      ...(spec.fusion ? { reencodesVideo: true as const } : {}),
      ...(spec.transfer ? { transfer: spec.transfer } : {}),
    };
  });
  // Adjacent stages must fit: only once every service is known (an unknown one declares nothing,
  // so a stage after it would be reported unfed when the real fault is the name).
  if (stages.every((s) => catalogue.services.has(s.service))) problems.push(...transferFitProblems(stages));

  if (problems.length > 0) throw new ChainPlanError(`cannot plan a chain for stream ${request.id}`, problems);
  const fuse = request.fuse ?? chosen.fuse ?? true;
  return {
    source: chosen.source,
    stages,
    fused: fuse ? fusionGroups(stages, catalogue.services) : [],
    ...(chosen.latencyBudgetMs !== undefined ? { latencyBudgetMs: chosen.latencyBudgetMs } : {}),
  };
}

/**
 * Adjacent stages whose services can share one decode and one encode: both built in (one worker
 * image holds them) and both declaring `fusion`, with none of the parameters their `exceptWith`
 * lists. A stage that reads a transfer parameter an earlier stage of the chain emits runs alone:
 * what it does then depends on each segment's values (transcode forces key frames at detect's
 * scene cuts), which a filter step planned for the whole hop cannot follow, and inside a fused hop
 * it would see only what came into the hop. Each group of two or more becomes one hop; the rest
 * run alone.
 */
export function fusionGroups(stages: readonly PlannedStage[], services: ReadonlyMap<string, ServiceSpec>): number[][] {
  const sources = transferSources(stages);
  const fusable = stages.map((s, i) => {
    const spec = services.get(s.service);
    if (!spec?.builtIn || !spec.fusion) return false;
    if ((sources.get(i)?.size ?? 0) > 0) return false;
    return !(spec.fusion.exceptWith ?? []).some((p) => s.params[p] !== undefined);
  });
  const groups: number[][] = [];
  let run: number[] = [];
  const close = (): void => {
    if (run.length > 1) groups.push(run);
    run = [];
  };
  fusable.forEach((ok, i) => {
    if (ok) run.push(i);
    else close();
  });
  close();
  return groups;
}

function chooseStages(
  request: PlanRequest,
  catalogue: CatalogueSnapshot,
  problems: string[],
): { source: string; stages: StageDto[]; fuse?: boolean; latencyBudgetMs?: number } | undefined {
  if (request.stages && request.stages.length > 0) return { source: 'stages', stages: request.stages };
  if (request.pipeline !== undefined) {
    const named = catalogue.pipelines.find((p) => p.name === request.pipeline);
    if (!named) {
      problems.push(`pipeline: no pipeline named "${request.pipeline}"`);
      return undefined;
    }
    return { source: `pipeline:${named.name}`, stages: named.stages, fuse: named.fuse, latencyBudgetMs: named.latencyBudgetMs };
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
  return { source: `pipeline:${best.name}`, stages: best.stages, fuse: best.fuse, latencyBudgetMs: best.latencyBudgetMs };
}

/** Highest priority first; the name breaks ties so the choice never depends on listing order. */
function byPriority(pipelines: readonly PipelineSpec[]): PipelineSpec[] {
  return [...pipelines].sort((a, b) => (b.priority ?? 0) - (a.priority ?? 0) || a.name.localeCompare(b.name));
}

function withTransfer(decl: TransferDecl | undefined): Pick<HopSpec, 'transfer'> {
  const transfer = hopTransferOf(decl);
  return transfer ? { transfer } : {};
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/**
 * Wires planned stages into hops: hop i listens on its own subject and publishes to hop i+1's
 * (the last to the outputs). A fused group's first hop runs the whole group and publishes where
 * its last hop would; the other hops of the group keep their wiring for segments routed before a
 * chain change, and are marked as running inside the first. A hop whose segments go to a stage
 * that re-encodes video hands on a mezzanine rather than paying for final quality twice. The
 * pipeline's latency budget, when it set one, travels in the spec to every hop.
 */
export function buildChainSpec(
  streamId: string,
  version: number,
  stages: readonly PlannedStage[],
  fused: readonly number[][] = [],
  now = new Date(),
  opts: { latencyBudgetMs?: number } = {},
): ChainSpec {
  const inputs = stages.map((s, i) => subjects.segment(s.service, streamId, i));
  const hops: HopSpec[] = stages.map((s, i) => ({
    index: i,
    service: s.service,
    params: s.params,
    subject: inputs[i]!,
    next: inputs[i + 1] ?? null,
    ...withTransfer(s.transfer),
  }));
  for (const group of fused) {
    const [head, ...rest] = group;
    const last = group[group.length - 1]!;
    if (head === undefined || rest.length === 0 || !group.every((h, k) => h === head + k && h < hops.length)) {
      throw new ChainPlanError(`cannot fuse hops ${group.join(', ')} of stream ${streamId}`, ['a fused group is two or more adjacent hops of the chain']);
    }
    hops[head]!.fusedThrough = last;
    for (const h of rest) hops[h]!.fusedInto = head;
  }
  for (const hop of hops) {
    const target = publishTarget({ hops }, hop);
    if (target !== null && stages[inputs.indexOf(target)]?.reencodesVideo) hop.handOff = 'mezzanine';
  }
  return { streamId, version, hops, updatedAt: now.toISOString(), ...(opts.latencyBudgetMs !== undefined ? { latencyBudgetMs: opts.latencyBudgetMs } : {}) };
}
