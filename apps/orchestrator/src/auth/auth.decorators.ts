import { SetMetadata, applyDecorators } from '@nestjs/common';
import { ApiBearerAuth, ApiExtension, ApiForbiddenResponse, ApiUnauthorizedResponse } from '@nestjs/swagger';
import type { ApiScope } from '@livemesh/contracts';

export const SCOPES_KEY = 'livemesh:scopes';
export const PUBLIC_KEY = 'livemesh:public';

/**
 * The scopes that may call a route (any one of them; admin implies platform, platform implies
 * read). Every route declares this or `@Public()`: one without either is refused to everyone but
 * admin. Also documents the route in Swagger (bearer scheme, `x-livemesh-scopes`, 401 and 403).
 */
export function Scopes(...scopes: [ApiScope, ...ApiScope[]]): MethodDecorator & ClassDecorator {
  return applyDecorators(
    SetMetadata(SCOPES_KEY, scopes),
    ApiBearerAuth(),
    ApiExtension('x-livemesh-scopes', scopes),
    ApiUnauthorizedResponse({ description: 'LM_UNAUTHENTICATED: no bearer token, or one that is malformed, unknown, revoked or expired' }),
    ApiForbiddenResponse({ description: `LM_FORBIDDEN: the token has none of the scopes ${scopes.join(', ')} (admin implies platform and read; platform implies read)` }),
  );
}

/** A route anyone may call without a token (health, HLS playback). */
export function Public(): MethodDecorator & ClassDecorator {
  return applyDecorators(SetMetadata(PUBLIC_KEY, true), ApiExtension('x-livemesh-scopes', ['public']));
}

/** What a handler declares: 'public', its scopes, or undefined (none: default deny, admin only). */
export type RouteAccess = 'public' | readonly ApiScope[] | undefined;

// eslint-disable-next-line @typescript-eslint/no-unsafe-function-type -- Nest's metadata targets are classes and handler functions
export function routeAccess(controller: Function, handler: Function): RouteAccess {
  const pub = Reflect.getMetadata(PUBLIC_KEY, handler) ?? Reflect.getMetadata(PUBLIC_KEY, controller);
  if (pub === true) return 'public';
  return (Reflect.getMetadata(SCOPES_KEY, handler) ?? Reflect.getMetadata(SCOPES_KEY, controller)) as readonly ApiScope[] | undefined;
}
