import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  IsArray,
  IsBoolean,
  IsIn,
  IsInt,
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
