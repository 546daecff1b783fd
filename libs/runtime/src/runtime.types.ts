import type { ServiceSpec } from '@livemesh/contracts';

/** One running copy of a service: a child process, a container or a Swarm task. */
export interface ServiceInstance {
  id: string;
  service: string;
  state: 'starting' | 'running' | 'exited';
  startedAt: string;
  /** Engine-specific detail: pid, container id, node. */
  detail?: Record<string, string | number>;
}

/** The method's start instruction: which service, with which start parameters. */
export interface StartInstruction {
  service: ServiceSpec;
  startParams: Record<string, string | number | boolean>;
}

/**
 * Finds or starts the containers of business services. One implementation per engine; the
 * orchestrator only ever talks to this interface.
 */
export interface ContainerRuntime {
  readonly kind: 'process' | 'docker' | 'swarm' | 'k8s';
  /** Reuses a running instance of the service, or starts one. */
  ensure(instr: StartInstruction): Promise<{ instance: ServiceInstance; reused: boolean }>;
  /** Asks for exactly `replicas` instances of the service, whatever streams use it. */
  scale(service: ServiceSpec, replicas: number): Promise<ServiceInstance[]>;
  list(service?: string): Promise<ServiceInstance[]>;
  /** No stream needs the service any more: stop its instances after the idle grace, unless ensured again. */
  release(service: string): Promise<void>;
  /** Stops everything this runtime started. */
  close(): Promise<void>;
  /**
   * Whether something outside the orchestrator scales the service (the k8s runtime: a KEDA
   * ScaledObject), and which; then the orchestrator's autoscaler keeps out. Runtimes without one
   * leave it out.
   */
  scaledExternally?(service: ServiceSpec): Promise<string | undefined>;
}

/** What the runtimes log through; Nest's Logger fits. */
export interface RuntimeLogger {
  log(message: string): void;
  warn(message: string): void;
  error(message: string): void;
  debug?(message: string): void;
}
