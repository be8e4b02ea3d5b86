import { ValidationError } from '../errors/validation-error.js';
import type { Backend, BackendKind, BackendOptions } from './backend.js';
import { ContainerBackend } from './container/container-backend.js';
import { PoolBackend } from './pool/pool-backend.js';
import { SlurmBackend, type SlurmOptions } from './slurm/slurm-backend.js';
import { SwarmBackend } from './swarm/swarm-backend.js';

/** The manager options that pick a backend: `backend` ('engine', 'swarm' or 'slurm') and, on engines, `executionMode`. */
export interface BackendChoice {
  backend: 'engine' | 'swarm' | 'slurm';
  executionMode: 'container' | 'pool';
  /** `engines` was given (several engines). */
  hasEngineList?: boolean;
  /** Backend 'slurm': the cluster's settings. */
  slurm?: SlurmOptions;
}

/** Which backend the options pick; a combination no backend runs is refused with a `ValidationError`. */
export function backendKind(choice: BackendChoice): BackendKind {
  if (choice.backend === 'slurm') {
    if (choice.hasEngineList) throw new ValidationError('backend', 'slurm', "backend 'slurm' submits to one cluster: give the login node's engine (used to check the image) as `docker`, not several `engines`.");
    if (choice.executionMode === 'pool') throw new ValidationError('executionMode', 'pool', "executionMode 'pool' runs on engines; it cannot be combined with backend 'slurm' (each attempt is a Slurm job).");
    return 'slurm';
  }
  if (choice.backend === 'swarm') {
    if (choice.hasEngineList) throw new ValidationError('backend', 'swarm', "backend 'swarm' schedules on one swarm: give its manager as `docker`, not several `engines`.");
    if (choice.executionMode === 'pool') throw new ValidationError('executionMode', 'pool', "executionMode 'pool' runs on engines; it cannot be combined with backend 'swarm'.");
    return 'swarm';
  }
  return choice.executionMode === 'pool' ? 'pool' : 'container';
}

/** The one place that knows every backend by name. */
export function createBackend(choice: BackendChoice, options: BackendOptions): Backend {
  switch (backendKind(choice)) {
    case 'slurm':
      return new SlurmBackend(options, choice.slurm ?? {});
    case 'swarm':
      return new SwarmBackend(options);
    case 'pool':
      return new PoolBackend(options);
    case 'container':
      return new ContainerBackend(options);
  }
}
