/** Labels put on every container of a run, so runs can be found, watched and cleaned up. */
export const LABELS = {
  run: 'docker-sim-manager.run',
  job: 'docker-sim-manager.job',
  ownerHost: 'docker-sim-manager.owner-host',
  ownerPid: 'docker-sim-manager.owner-pid',
  /** The owner process's start time (Linux), so a reused pid is not mistaken for the owner. */
  ownerStart: 'docker-sim-manager.owner-start',
  /** Set on the worker containers of `executionMode: 'pool'` (value: the worker's slot). */
  worker: 'docker-sim-manager.worker',
} as const;
