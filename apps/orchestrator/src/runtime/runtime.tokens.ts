/** Injection token of the ContainerRuntime (process, docker or swarm; a fake in tests). */
export const CONTAINER_RUNTIME = Symbol('CONTAINER_RUNTIME');
