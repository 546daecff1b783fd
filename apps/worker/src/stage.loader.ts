import { pathToFileURL } from 'node:url';
import { ConfigError, UnsafeServiceError, checkStageModule, stagePolicyOf, type Env } from '@livemesh/contracts';
import { BUILT_IN_SERVICES, findBuiltIn } from '@livemesh/services';
import { describeNotAStage, type StageDefinition } from '@livemesh/stage-sdk';

/**
 * The stage this worker hosts: a module's default export when LIVEMESH_STAGE_MODULE names one
 * (a path to built JS, or an installed package), else the built-in named by LIVEMESH_SERVICE.
 * Anything else is a ConfigError: the process runtime would only restart a worker that can never work.
 */
export async function loadStage(env: Pick<Env, 'LIVEMESH_SERVICE' | 'LIVEMESH_STAGE_MODULE' | 'LIVEMESH_STAGE_DIR' | 'LIVEMESH_STAGE_PACKAGES'>): Promise<StageDefinition<object>> {
  const wanted = env.LIVEMESH_SERVICE;
  if (env.LIVEMESH_STAGE_MODULE) {
    const spec = env.LIVEMESH_STAGE_MODULE;
    const target = allowedTarget(spec, env);
    let mod: { default?: unknown };
    try {
      mod = (await import(target)) as { default?: unknown };
    } catch (cause) {
      throw new ConfigError('LIVEMESH_STAGE_MODULE cannot be loaded', [`${spec}: ${(cause as Error).message}`], { cause });
    }
    const problems = describeNotAStage(mod.default);
    if (problems.length) throw new ConfigError(`LIVEMESH_STAGE_MODULE ${spec} has no stage as its default export`, problems);
    const stage = mod.default as StageDefinition<object>;
    if (wanted && stage.name !== wanted) {
      throw new ConfigError('LIVEMESH_STAGE_MODULE does not match LIVEMESH_SERVICE', [`the module's stage is "${stage.name}", LIVEMESH_SERVICE is "${wanted}"`]);
    }
    return stage;
  }
  if (!wanted) throw new ConfigError('no stage to run', ['set LIVEMESH_SERVICE to a built-in service or LIVEMESH_STAGE_MODULE to a stage module']);
  const builtIn = findBuiltIn(wanted);
  if (!builtIn) {
    throw new ConfigError('LIVEMESH_SERVICE is not a built-in service', [`"${wanted}" is none of ${BUILT_IN_SERVICES.map((s) => s.spec.name).join(', ')}; set LIVEMESH_STAGE_MODULE for other services`]);
  }
  return builtIn.stage;
}

/**
 * The import specifier of an allowed stage module: the real path of a file under
 * LIVEMESH_STAGE_DIR, or a package in LIVEMESH_STAGE_PACKAGES. Checked here as well as at
 * registration, so a catalogue entry written straight into the bucket runs nothing else.
 */
function allowedTarget(spec: string, env: Pick<Env, 'LIVEMESH_STAGE_DIR' | 'LIVEMESH_STAGE_PACKAGES'>): string {
  try {
    const checked = checkStageModule(spec, stagePolicyOf(env), 'LIVEMESH_STAGE_MODULE');
    return checked.kind === 'path' ? pathToFileURL(checked.path).href : checked.name;
  } catch (e) {
    if (e instanceof UnsafeServiceError) throw new ConfigError('LIVEMESH_STAGE_MODULE is not allowed', e.problems, { cause: e });
    throw e;
  }
}
