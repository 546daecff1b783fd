import { Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { BusModule } from '../bus/bus.module.js';
import { ApiAuthGuard } from './api-auth.guard.js';
import { ApiTokensService } from './api-tokens.service.js';
import { TokensController } from './tokens.controller.js';

/** Bearer tokens and scopes for every HTTP route (docs/security.md, "API tokens and scopes"). */
@Module({
  imports: [BusModule],
  controllers: [TokensController],
  providers: [ApiTokensService, { provide: APP_GUARD, useClass: ApiAuthGuard }],
})
export class AuthModule {}
