import type { Backend, BackendKind, BackendOptions } from './backend.js';
import { ContainerBackend } from './container/container-backend.js';
import { PoolBackend } from './pool/pool-backend.js';
import { SwarmBackend } from './swarm/swarm-backend.js';

/** The manager options that pick a backend: `backend` ('engine' or 'swarm') and, on engines, `executionMode`. */
export interface BackendChoice {
  backend: 'engine' | 'swarm';
  executionMode: 'container' | 'pool';
}

/** Which backend the options pick (validation already refused swarm with pool). */
export function backendKind(choice: BackendChoice): BackendKind {
  if (choice.backend === 'swarm') return 'swarm';
  return choice.executionMode === 'pool' ? 'pool' : 'container';
}

/** The one place that knows every backend by name. */
export function createBackend(choice: BackendChoice, options: BackendOptions): Backend {
  switch (backendKind(choice)) {
    case 'swarm':
      return new SwarmBackend(options);
    case 'pool':
      return new PoolBackend(options);
    case 'container':
      return new ContainerBackend(options);
  }
}
