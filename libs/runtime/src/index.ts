// The public door of @livemesh/runtime: where service containers run, and the local supervisor.
export type { ContainerRuntime, RuntimeLogger, ServiceInstance, StartInstruction } from './runtime.types.js';
export { ProcessRuntime, type ProcessRuntimeOptions } from './process.runtime.js';
export { createRuntime } from './runtime.factory.js';
export { Supervisor, type ChildSpec } from './supervisor.js';
export { appEntry, waitForHttp, waitForTcp } from './readiness.js';
