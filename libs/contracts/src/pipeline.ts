import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  ArrayMinSize,
  IsArray,
  IsBoolean,
  IsInt,
  IsObject,
  IsOptional,
  Matches,
  Max,
  Min,
  ValidateNested,
} from 'class-validator';
import { MAX_LATENCY_BUDGET_MS, MIN_LATENCY_BUDGET_MS } from './chain.js';
import { StageDto } from './stream.js';
import { TOKEN_PATTERN } from './subjects.js';

/**
 * A named, ordered list of stages (`lm_catalogue`, key `pipeline.<name>`). Selectors say which
 * streams it fits: every key must match the stream's attribute (a string, or one of a list);
 * the highest priority match wins, and the pipeline marked default catches the rest.
 */
export class PipelineSpec {
  @Matches(TOKEN_PATTERN, { message: "name must be 1-64 letters, digits, '-' or '_'" })
  name!: string;

  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(16)
  @ValidateNested({ each: true })
  @Type(() => StageDto)
  stages!: StageDto[];

  /** attribute -> value or list of values, e.g. { category: ["game", "esports"] }. */
  @IsOptional()
  @IsObject()
  selectors?: Record<string, string | string[]>;

  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(1000)
  priority?: number;

  @IsOptional()
  @IsBoolean()
  default?: boolean;

  /** Default true: adjacent fusable stages run as one hop. False keeps one hop per stage. */
  @IsOptional()
  @IsBoolean()
  fuse?: boolean;

  /**
   * Latency budget of the pipeline's streams, ms from the cut at ingest to the output (see
   * ChainSpec.latencyBudgetMs). Default: DEFAULT_BUDGET_SEGMENTS segment durations.
   */
  @IsOptional()
  @IsInt()
  @Min(MIN_LATENCY_BUDGET_MS)
  @Max(MAX_LATENCY_BUDGET_MS)
  latencyBudgetMs?: number;
}

/** True when every selector matches the attributes. */
export function pipelineMatches(p: Pick<PipelineSpec, 'selectors'>, attributes: Record<string, string> = {}): boolean {
  return Object.entries(p.selectors ?? {}).every(([k, want]) => {
    const have = attributes[k];
    if (have === undefined) return false;
    return Array.isArray(want) ? want.includes(have) : want === have;
  });
}
