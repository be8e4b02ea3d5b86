/** Labels put on every container of a run, so runs can be found, watched and cleaned up. */
export const LABELS = {
  run: 'docker-sim-manager.run',
  job: 'docker-sim-manager.job',
  ownerHost: 'docker-sim-manager.owner-host',
  ownerPid: 'docker-sim-manager.owner-pid',
} as const;
