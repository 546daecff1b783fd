import { IsInt, Max, Min } from 'class-validator';

/**
 * Body of POST /api/services/:name/scale. Belongs in @livemesh/contracts beside ServiceSpec
 * (the CLI sends it too); kept here until that move.
 */
export class ScaleRequest {
  @IsInt()
  @Min(0)
  @Max(64)
  replicas!: number;
}
