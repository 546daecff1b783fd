import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  IsArray,
  IsBoolean,
  IsIn,
  IsInt,
  IsNumber,
  IsObject,
  IsOptional,
  IsString,
  Matches,
  Max,
  MaxLength,
  Min,
  ValidateNested,
} from 'class-validator';
import { INPUT_KINDS, type InputKind } from './segment.js';
import { TOKEN_PATTERN } from './subjects.js';
import type { TransferDecl } from './transfer.js';

/** How a service's containers are started. */
export class ServiceRunDto {
  /** Image for container runtimes, e.g. `127.0.0.1:5000/livemesh/pixelate:1.0.0`. */
  @IsOptional()
  @IsString()
  @MaxLength(512)
  image?: string;

  /** Image digest recorded when `livemesh service build --push` pushed it. */
  @IsOptional()
  @IsString()
  @Matches(/^sha256:[0-9a-f]{64}$/, { message: 'run.digest must be sha256:<64 hex digits>' })
  digest?: string;

  /**
   * For the process runtime: the module the worker loads the stage from: a package listed in
   * LIVEMESH_STAGE_PACKAGES, or a path to a built file under LIVEMESH_STAGE_DIR (symlinks
   * resolved; no URLs, no `..`). Built-in services leave it out. See service.policy.ts.
   */
  @IsOptional()
  @IsString()
  @MaxLength(1024)
  module?: string;
}

/**
 * A service whose stage is a video filter plus an encode (watermark, scale, transcode): the
 * planner runs adjacent fusable services of the worker image as one hop (one decode, one
 * filter graph, one encode). Only built-in services fuse, as only they share one image.
 */
export class FusionDto {
  /** Parameters that make a hop unfusable when given (watermark's `image` needs a second input). */
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(16)
  @Matches(TOKEN_PATTERN, { each: true })
  exceptWith?: string[];
}

// --- autoscaling (issue 14 item 2) -------------------------------------------------------------

/**
 * Autoscaling on the lag of the service's durable consumer (pending + ack-pending), done by the
 * orchestrator for runtimes without an autoscaler of their own. Off unless `enabled`; every other
 * field has a default (AUTOSCALE_DEFAULTS). See docs/scaling.md, "Autoscaling".
 */
export class AutoscaleDto {
  @IsBoolean()
  enabled!: boolean;

  /** KEDA (or another outside autoscaler) owns the replica count: the orchestrator never scales the service. */
  @IsOptional()
  @IsBoolean()
  keda?: boolean;

  /** Lag one replica is meant to carry (KEDA's AverageValue target): desired = ceil(lag / this). */
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(1_000_000)
  targetLagPerReplica?: number;

  /** No change while lag / (replicas x target) is within 1 +- this (0.1: 10 %). */
  @IsOptional()
  @IsNumber()
  @Min(0)
  @Max(1)
  tolerance?: number;

  /** Seconds between two evaluations; also the spacing of scale-ups and of single-replica removals. */
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(3600)
  periodSeconds?: number;

  /** Scale down only to the highest recommendation of this many past seconds. */
  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(3600)
  stabilisationSeconds?: number;

  /** A scale-up adds at most max(this % of the replicas, scaleUpPods) per period. */
  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(1000)
  scaleUpPercent?: number;

  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(64)
  scaleUpPods?: number;

  /** After an operator's `POST /api/services/:name/scale`, the autoscaler leaves the count alone this long. */
  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(7 * 24 * 3600)
  operatorHoldSeconds?: number;
}

/** Every autoscale setting, defaults filled in. */
export type AutoscaleSettings = Required<Omit<AutoscaleDto, 'enabled' | 'keda'>> & { enabled: boolean; keda: boolean };

/** Conservative, HPA-like defaults (HPA: 10 % tolerance, 300 s scale-down window, +100 % or +4 pods per period). */
export const AUTOSCALE_DEFAULTS: Omit<AutoscaleSettings, 'enabled' | 'keda'> = {
  targetLagPerReplica: 10,
  tolerance: 0.1,
  periodSeconds: 15,
  stabilisationSeconds: 300,
  scaleUpPercent: 100,
  scaleUpPods: 4,
  operatorHoldSeconds: 600,
};

/** A service's autoscale settings with defaults; `enabled: false` when the spec has none. */
export function autoscaleSettings(spec: Pick<ServiceSpec, 'autoscale'>): AutoscaleSettings {
  const a = spec.autoscale;
  const set = Object.fromEntries(Object.entries(a ?? {}).filter(([, v]) => v !== undefined));
  return { ...AUTOSCALE_DEFAULTS, ...set, enabled: a?.enabled === true, keda: a?.keda === true };
}

// --- end of autoscaling

/** A business service in the catalogue (`lm_catalogue`, key `service.<name>`). */
export class ServiceSpec {
  @Matches(TOKEN_PATTERN, { message: "name must be 1-64 letters, digits, '-' or '_' (it becomes a NATS subject token)" })
  name!: string;

  @Matches(/^\d+\.\d+\.\d+([-+][0-9A-Za-z.-]+)?$/, { message: 'version must be semver, e.g. 1.2.0' })
  version!: string;

  @IsOptional()
  @IsString()
  @MaxLength(500)
  description?: string;

  @IsOptional()
  @ValidateNested()
  @Type(() => ServiceRunDto)
  run?: ServiceRunDto;

  /**
   * Environment of every container of the service. Keys the loader, the runtime or livemesh read
   * (NODE_OPTIONS, LD_PRELOAD, PATH, FFMPEG_PATH, LIVEMESH_*, NATS_*...) are refused; see service.policy.ts.
   */
  @IsOptional()
  @IsObject()
  env?: Record<string, string>;

  /** Service configuration, handed to the stage at start. */
  @IsOptional()
  @IsObject()
  config?: Record<string, unknown>;

  /** Start parameters of the start instruction (the same for every stream). */
  @IsOptional()
  @IsObject()
  startParams?: Record<string, string | number | boolean>;

  /**
   * Transfer parameters (`Lm-Transfer`) the service emits and reads, each with a JSON Schema of its
   * value (see transfer.ts; checked with checkTransferDecl). The planner refuses a chain where a
   * required one has no earlier emitter or an emitter's schema does not fit; the SDK checks the
   * values on every segment.
   */
  @IsOptional()
  @IsObject()
  transfer?: TransferDecl;

  /** JSON Schema of the per-hop parameters: type object, additionalProperties false. */
  @IsObject()
  paramSchema!: Record<string, unknown>;

  @IsIn(INPUT_KINDS as unknown as string[])
  input!: InputKind;

  @IsInt()
  @Min(0)
  @Max(64)
  minReplicas!: number;

  @IsInt()
  @Min(1)
  @Max(64)
  maxReplicas!: number;

  /** Present when the service can be fused with its neighbours (built-in services only). */
  @IsOptional()
  @ValidateNested()
  @Type(() => FusionDto)
  fusion?: FusionDto;

  /** Autoscaling on consumer lag (off unless enabled); see AutoscaleDto. */
  @IsOptional()
  @ValidateNested()
  @Type(() => AutoscaleDto)
  autoscale?: AutoscaleDto;

  /** Set by livemesh for the services it ships; cannot be removed. */
  @IsOptional()
  @IsBoolean()
  builtIn?: boolean;
}

/** Body of `POST /api/services/:name/scale` (the CLI's `service scale` sends it). */
export class ScaleRequest {
  @IsInt()
  @Min(0)
  @Max(64)
  replicas!: number;
}
