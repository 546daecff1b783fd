import { Body, Controller, Delete, Get, HttpCode, Inject, Param, Post, Put } from '@nestjs/common';
import { ApiBody, ApiTags } from '@nestjs/swagger';
import { PipelineSpec } from '@livemesh/contracts';
import { CatalogueService } from './catalogue.service.js';
import { Scopes } from '../auth/auth.decorators.js';

const ref = { schema: { $ref: '#/components/schemas/PipelineSpec' } };

@ApiTags('pipelines')
@Controller('api/pipelines')
export class PipelinesController {
  constructor(@Inject(CatalogueService) private readonly catalogue: CatalogueService) {}

  @Get()
  @Scopes('admin')
  list(): Promise<PipelineSpec[]> {
    return this.catalogue.listPipelines();
  }

  @Post()
  @Scopes('admin')
  @ApiBody(ref)
  create(@Body() spec: PipelineSpec): Promise<PipelineSpec> {
    return this.catalogue.createPipeline(spec);
  }

  @Get(':name')
  @Scopes('admin')
  get(@Param('name') name: string): Promise<PipelineSpec> {
    return this.catalogue.getPipeline(name);
  }

  @Put(':name')
  @Scopes('admin')
  @ApiBody(ref)
  replace(@Param('name') name: string, @Body() spec: PipelineSpec): Promise<PipelineSpec> {
    return this.catalogue.replacePipeline(name, spec);
  }

  @Delete(':name')
  @Scopes('admin')
  @HttpCode(204)
  remove(@Param('name') name: string): Promise<void> {
    return this.catalogue.deletePipeline(name);
  }
}
