import { Body, Controller, Delete, Get, HttpCode, Inject, Param, Post, Put } from '@nestjs/common';
import { ApiBody, ApiTags } from '@nestjs/swagger';
import { ScaleRequest, ServiceSpec, ValidationFailedError } from '@livemesh/contracts';
import type { ContainerRuntime, ServiceInstance } from '@livemesh/runtime';
import { CONTAINER_RUNTIME } from '../runtime/runtime.tokens.js';
import { CatalogueService } from './catalogue.service.js';
import { Scopes } from '../auth/auth.decorators.js';

const ref = (name: string) => ({ schema: { $ref: `#/components/schemas/${name}` } });

@ApiTags('services')
@Controller('api/services')
export class ServicesController {
  constructor(
    @Inject(CatalogueService) private readonly catalogue: CatalogueService,
    @Inject(CONTAINER_RUNTIME) private readonly runtime: ContainerRuntime,
  ) {}

  @Get()
  @Scopes('admin')
  list(): Promise<ServiceSpec[]> {
    return this.catalogue.listServices();
  }

  @Post()
  @Scopes('admin')
  @ApiBody(ref('ServiceSpec'))
  create(@Body() spec: ServiceSpec): Promise<ServiceSpec> {
    return this.catalogue.createService(spec);
  }

  @Get(':name')
  @Scopes('admin')
  get(@Param('name') name: string): Promise<ServiceSpec> {
    return this.catalogue.getService(name);
  }

  @Put(':name')
  @Scopes('admin')
  @ApiBody(ref('ServiceSpec'))
  replace(@Param('name') name: string, @Body() spec: ServiceSpec): Promise<ServiceSpec> {
    return this.catalogue.replaceService(name, spec);
  }

  @Delete(':name')
  @Scopes('admin')
  @HttpCode(204)
  remove(@Param('name') name: string): Promise<void> {
    return this.catalogue.deleteService(name);
  }

  @Post(':name/scale')
  @Scopes('admin')
  @HttpCode(200)
  @ApiBody(ref('ScaleRequest'))
  async scale(@Param('name') name: string, @Body() body: ScaleRequest): Promise<{ service: string; instances: ServiceInstance[] }> {
    const spec = await this.catalogue.getService(name);
    if (body.replicas > spec.maxReplicas || body.replicas < spec.minReplicas) {
      throw new ValidationFailedError('scale request is invalid', [
        `replicas: must be between minReplicas ${spec.minReplicas} and maxReplicas ${spec.maxReplicas} of service "${name}"`,
      ]);
    }
    const instances = await this.runtime.scale(spec, body.replicas);
    // Kept until no stream uses the service any more, and restored by a restarted orchestrator.
    await this.catalogue.setScale(name, body.replicas);
    return { service: name, instances };
  }

  @Get(':name/instances')
  @Scopes('admin')
  async instances(@Param('name') name: string): Promise<{ service: string; instances: ServiceInstance[] }> {
    await this.catalogue.getService(name);
    return { service: name, instances: await this.runtime.list(name) };
  }
}
