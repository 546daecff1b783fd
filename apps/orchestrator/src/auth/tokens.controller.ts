import { Body, Controller, Delete, Get, Inject, Param, Post } from '@nestjs/common';
import { ApiBody, ApiOperation, ApiTags } from '@nestjs/swagger';
import { CreateTokenRequest, type ApiTokenView } from '@livemesh/contracts';
import { Scopes } from './auth.decorators.js';
import { ApiTokensService } from './api-tokens.service.js';

@ApiTags('tokens')
@Controller('api/tokens')
export class TokensController {
  constructor(@Inject(ApiTokensService) private readonly tokens: ApiTokensService) {}

  @Post()
  @Scopes('admin')
  @ApiOperation({ summary: 'Create an API token (name, scopes, optional expiry); the answer holds its secret, shown this once' })
  @ApiBody({ schema: { $ref: '#/components/schemas/CreateTokenRequest' } })
  create(@Body() body: CreateTokenRequest): Promise<ApiTokenView & { token: string }> {
    return this.tokens.create(body);
  }

  @Get()
  @Scopes('admin')
  @ApiOperation({ summary: 'List API tokens: id, name, scopes, dates; never a secret or its hash' })
  list(): Promise<ApiTokenView[]> {
    return this.tokens.list();
  }

  @Delete(':id')
  @Scopes('admin')
  @ApiOperation({ summary: 'Revoke a token: refused from the next request on (401, revoked)' })
  revoke(@Param('id') id: string): Promise<ApiTokenView> {
    return this.tokens.revoke(id);
  }
}
