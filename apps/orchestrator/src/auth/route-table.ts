import { RequestMethod, type DynamicModule, type Type } from '@nestjs/common';
import { METHOD_METADATA, MODULE_METADATA, PATH_METADATA } from '@nestjs/common/constants.js';
import { routeAccess, type RouteAccess } from './auth.decorators.js';

export interface RouteInfo {
  method: string;
  /** Nest's path, e.g. `/api/streams/:id`. */
  path: string;
  controller: string;
  handler: string;
  access: RouteAccess;
}

type ModuleRef = Type | DynamicModule;

/**
 * Every HTTP route the controllers of `root` and the modules it imports (transitively) declare,
 * with what each route declares about access. Read from Nest's decorator metadata, so it needs no
 * running application: the unit test that every route declares its access walks this table, and
 * the permission matrix e2e checks that it covers every row.
 */
export function routeTable(root: ModuleRef): RouteInfo[] {
  const seen = new Set<unknown>();
  const controllers = new Set<Type>();
  const visit = (m: ModuleRef | undefined): void => {
    if (!m || seen.has(m)) return;
    seen.add(m);
    const cls = 'module' in m ? m.module : m;
    const imports = [...((Reflect.getMetadata(MODULE_METADATA.IMPORTS, cls) as ModuleRef[] | undefined) ?? []), ...('module' in m ? ((m.imports as ModuleRef[] | undefined) ?? []) : [])];
    const ctrls = [...((Reflect.getMetadata(MODULE_METADATA.CONTROLLERS, cls) as Type[] | undefined) ?? []), ...('module' in m ? (m.controllers ?? []) : [])];
    for (const c of ctrls) controllers.add(c);
    for (const i of imports) visit(i);
  };
  visit(root);
  const routes: RouteInfo[] = [];
  for (const c of controllers) {
    const prefix = String(Reflect.getMetadata(PATH_METADATA, c) ?? '');
    for (const name of Object.getOwnPropertyNames(c.prototype)) {
      if (name === 'constructor') continue;
      const fn = Object.getOwnPropertyDescriptor(c.prototype, name)?.value as unknown;
      if (typeof fn !== 'function') continue;
      const sub = Reflect.getMetadata(PATH_METADATA, fn) as string | string[] | undefined;
      if (sub === undefined) continue; // not an HTTP handler (a bus event handler, a helper)
      const method = RequestMethod[(Reflect.getMetadata(METHOD_METADATA, fn) as RequestMethod | undefined) ?? RequestMethod.GET];
      for (const p of Array.isArray(sub) ? sub : [sub]) {
        routes.push({ method, path: join(prefix, p), controller: c.name, handler: name, access: routeAccess(c, fn) });
      }
    }
  }
  return routes;
}

function join(prefix: string, sub: string): string {
  const parts = [prefix, sub].map((s) => s.replace(/^\/+|\/+$/g, '')).filter(Boolean);
  return `/${parts.join('/')}`;
}
