import { UnprocessableEntityException } from '@nestjs/common';
import { ConflictException, Inject, Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { Bus, JsonStore } from '@livemesh/bus';
import {
  BUCKETS,
  NotFoundError,
  ValidationFailedError,
  checkParamSchema,
  checkTransferDecl,
  checkServiceSafety,
  imagePolicyOf,
  stagePolicyOf,
  type PipelineSpec,
  type ScaleRecord,
  type ServiceSpec,
  ENV,
  type OrchestratorSettings,
} from '@livemesh/contracts';
import { planChain, type CatalogueSnapshot } from '../planner/chain.planner.js';
import { BUILT_IN_CATALOGUE, type BuiltInCatalogue } from './catalogue.builtins.js';

const SERVICE = 'service.';
const PIPELINE = 'pipeline.';
const SCALE = 'scale.';

export type { ScaleRecord };

/**
 * Services, pipelines and operators' replica counts in the `lm_catalogue` bucket
 * (`service.<name>`, `pipeline.<name>`, `scale.<name>`).
 */
@Injectable()
export class CatalogueService implements OnModuleInit {
  private readonly logger = new Logger(CatalogueService.name);
  private readonly store: JsonStore<ServiceSpec | PipelineSpec | ScaleRecord>;

  constructor(
    @Inject(Bus) bus: Bus,
    @Inject(BUILT_IN_CATALOGUE) private readonly builtIns: BuiltInCatalogue,
    @Inject(ENV) private readonly env: OrchestratorSettings,
  ) {
    this.store = bus.store(BUCKETS.catalogue);
  }

  /**
   * Built-in services follow the code that ships them, so a changed built-in is rewritten; the
   * default pipeline and everything a user registered are only created when absent.
   */
  async onModuleInit(): Promise<void> {
    for (const spec of this.builtIns.services) {
      const built = { ...spec, builtIn: true };
      const have = await this.store.get(SERVICE + spec.name);
      if (!have || JSON.stringify(have.value) !== JSON.stringify(built)) {
        await this.store.put(SERVICE + spec.name, built);
        this.logger.log(`service=${spec.name} registered built-in version ${spec.version}`);
      }
    }
    const p = this.builtIns.defaultPipeline;
    if ((await this.store.create(PIPELINE + p.name, p)) !== undefined) this.logger.log(`pipeline=${p.name} registered as the default`);
  }

  async snapshot(): Promise<CatalogueSnapshot> {
    const [services, pipelines] = await Promise.all([this.listServices(), this.listPipelines()]);
    return { services: new Map(services.map((s) => [s.name, s])), pipelines };
  }

  // --- services

  async listServices(): Promise<ServiceSpec[]> {
    return (await this.store.list(`${SERVICE}*`)).map((e) => e.value as ServiceSpec);
  }

  async getService(name: string): Promise<ServiceSpec> {
    const e = await this.store.get(SERVICE + name);
    if (!e) throw new NotFoundError(`service "${name}" is not in the catalogue`);
    return e.value as ServiceSpec;
  }

  async createService(spec: ServiceSpec): Promise<ServiceSpec> {
    if (this.isBuiltInName(spec.name)) throw builtInConflict(spec.name, 'replaced');
    this.checkService(spec);
    const clean = { ...spec, builtIn: false };
    if ((await this.store.create(SERVICE + spec.name, clean)) === undefined) {
      throw new ConflictException(`service "${spec.name}" already exists; PUT /api/services/${spec.name} replaces it`);
    }
    this.logger.log(`service=${spec.name} registered version ${spec.version}`);
    return clean;
  }

  async replaceService(name: string, spec: ServiceSpec): Promise<ServiceSpec> {
    if (spec.name !== name) throw new ValidationFailedError('service spec is invalid', [`name: must be "${name}", the name in the path`]);
    const have = await this.store.get(SERVICE + name);
    if ((have?.value as ServiceSpec | undefined)?.builtIn === true || this.isBuiltInName(name)) throw builtInConflict(name, 'replaced');
    this.checkService(spec);
    // builtIn is livemesh's mark, not the caller's.
    const clean = { ...spec, builtIn: false };
    await this.store.put(SERVICE + name, clean);
    this.logger.log(`service=${name} replaced with version ${spec.version}`);
    return clean;
  }

  async deleteService(name: string): Promise<void> {
    const spec = await this.getService(name);
    if (spec.builtIn || this.isBuiltInName(name)) throw builtInConflict(name, 'removed');
    const users = (await this.listPipelines()).filter((p) => p.stages.some((s) => s.service === name)).map((p) => p.name);
    if (users.length > 0) throw new ConflictException(`service "${name}" is used by pipeline(s) ${users.join(', ')}; change them first`);
    await this.store.delete(SERVICE + name);
    await this.clearScale(name);
    this.logger.log(`service=${name} removed`);
  }

  /**
   * What class-validator cannot check: the parameter schema, the replica bounds, and what the
   * service would make livemesh run (module, env, image: UnsafeServiceError, 422).
   */
  private checkService(spec: ServiceSpec): void {
    checkServiceShape(spec);
    checkServiceSafety(spec, { stage: stagePolicyOf(this.env), image: imagePolicyOf(this.env) });
  }

  private isBuiltInName(name: string): boolean {
    return this.builtIns.services.some((s) => s.name === name);
  }

  // --- replica counts an operator asked for

  async setScale(name: string, replicas: number): Promise<void> {
    await this.store.put(SCALE + name, { service: name, replicas, updatedAt: new Date().toISOString() } satisfies ScaleRecord);
  }

  /** The service went idle (or away): the runtime is back to its minReplicas, so is the record. */
  async clearScale(name: string): Promise<void> {
    if (await this.store.get(SCALE + name)) await this.store.delete(SCALE + name);
  }

  async listScales(): Promise<ScaleRecord[]> {
    return (await this.store.list(`${SCALE}*`)).map((e) => e.value as ScaleRecord);
  }

  // --- pipelines

  async listPipelines(): Promise<PipelineSpec[]> {
    return (await this.store.list(`${PIPELINE}*`)).map((e) => e.value as PipelineSpec);
  }

  async getPipeline(name: string): Promise<PipelineSpec> {
    const e = await this.store.get(PIPELINE + name);
    if (!e) throw new NotFoundError(`pipeline "${name}" is not in the catalogue`);
    return e.value as PipelineSpec;
  }

  async createPipeline(spec: PipelineSpec): Promise<PipelineSpec> {
    await this.checkPipeline(spec);
    if ((await this.store.create(PIPELINE + spec.name, spec)) === undefined) {
      throw new ConflictException(`pipeline "${spec.name}" already exists; PUT /api/pipelines/${spec.name} replaces it`);
    }
    this.logger.log(`pipeline=${spec.name} created: ${spec.stages.map((s) => s.service).join(' -> ')}`);
    return spec;
  }

  async replacePipeline(name: string, spec: PipelineSpec): Promise<PipelineSpec> {
    if (spec.name !== name) throw new ValidationFailedError('pipeline spec is invalid', [`name: must be "${name}", the name in the path`]);
    await this.checkPipeline(spec);
    await this.store.put(PIPELINE + name, spec);
    this.logger.log(`pipeline=${name} replaced: ${spec.stages.map((s) => s.service).join(' -> ')}`);
    return spec;
  }

  async deletePipeline(name: string): Promise<void> {
    await this.getPipeline(name);
    await this.store.delete(PIPELINE + name);
    this.logger.log(`pipeline=${name} removed`);
  }

  /** A pipeline must plan on its own: known services, parameters their schemas accept. */
  private async checkPipeline(spec: PipelineSpec): Promise<void> {
    const problems: string[] = [];
    for (const [k, v] of Object.entries(spec.selectors ?? {})) {
      const ok = typeof v === 'string' || (Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === 'string'));
      if (!ok) problems.push(`selectors.${k}: must be a string or a non-empty list of strings`);
    }
    if (problems.length) throw new ValidationFailedError('pipeline spec is invalid', problems);
    planChain({ id: `pipeline-${spec.name}`, stages: spec.stages }, await this.snapshot());
  }
}

/** Built-in services follow the code that ships them: the catalogue never lets a caller change or drop one. */
function builtInConflict(name: string, what: 'replaced' | 'removed'): ConflictException {
  return new ConflictException({
    statusCode: 409,
    error: 'Conflict',
    message: `service "${name}" is built in and cannot be ${what}; register your own under another name`,
    code: 'LM_BUILT_IN',
  });
}

/** The parameter schema itself and the replica bounds. */
function checkServiceShape(spec: ServiceSpec): void {
  const problems = checkParamSchema(spec.paramSchema);
  // A well-formed schema over checkParamSchema's bounds (a pattern that could backtrack, too large, too deep) is 422.
  const unsafe = problems.filter((p) => /^paramSchema\S*(\.pattern|\.patternProperties): |nests deeper than|bytes as JSON, more than/.test(p));
  if (unsafe.length && unsafe.length === problems.length) {
    throw new UnprocessableEntityException({ statusCode: 422, error: 'Unprocessable Entity', message: 'service paramSchema is unsafe to run', problems, code: 'LM_UNSAFE_SCHEMA' });
  }
  problems.push(...checkTransferDecl(spec.transfer));
  if (spec.minReplicas > spec.maxReplicas) problems.push(`minReplicas: must not exceed maxReplicas (${spec.minReplicas} > ${spec.maxReplicas})`);
  for (const [k, v] of Object.entries(spec.env ?? {})) {
    if (typeof v !== 'string') problems.push(`env.${k}: must be a string`);
  }
  if (problems.length) throw new ValidationFailedError('service spec is invalid', problems);
}
