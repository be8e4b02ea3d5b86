import type { RunEngine } from '../backends/backend.js';
import type { NormalizedSettings } from '../job/job-settings.js';
import type { EngineFeatures } from '../runtime/container-runtime.js';

/**
 * What an engine accepts but does not do, said once per engine and run as a `run:warning`, never assumed done:
 * limits that rootless Podman on cgroup v1 ignores, and OOM kills that Podman before 5.0 does not report.
 */
export class EngineWarnings {
  private readonly said = new Set<string>();

  /** `readsOomFlag`: the backend learns of OOM kills from the engine's flag (see `Backend.readsOomFlag`). */
  constructor(
    private readonly warn: (message: string) => void,
    private readonly readsOomFlag: boolean,
  ) {}

  /** Starts a new run: every warning may be said again. */
  reset(): void {
    this.said.clear();
  }

  /** Warns about what the engines a job may run on (with their features, when known) will not do for it. */
  check(jobName: string, settings: NormalizedSettings, engines: ReadonlyArray<{ engine: RunEngine; features: EngineFeatures | undefined }>): void {
    const hasLimits = settings.nanoCpus !== undefined || settings.memoryBytes !== undefined;
    const retryOn = settings.retryOn;
    const reliesOnOom = this.readsOomFlag && settings.memoryBytes !== undefined && ((Array.isArray(retryOn) && retryOn.includes('oom')) || settings.perAttempt?.memory !== undefined);
    for (const { engine, features } of engines) {
      const where = `Engine ${engine.name} (${engine.runtime.endpoint})`;
      if (hasLimits && features?.limits === false) {
        this.once(
          `limits ${engine.name}`,
          `${where} is rootless Podman on cgroup v1: it accepts the cpus and memory limits of jobs such as ${jobName} and applies none of them, so a job can use the whole machine and is never OOM-killed at its limit. Use rootful Podman, Docker, or a host with cgroup v2 where the limits matter.`,
        );
      } else if (reliesOnOom && features?.oomKills === false) {
        this.once(
          `oom ${engine.name}`,
          `${where} is Podman ${features.version}, which does not report when the kernel kills a fresh container for memory (fixed in Podman 5.0): job ${jobName} (retryOn 'oom', or memory that grows per attempt) will see such a kill as a plain SIGKILL exit (137), not as an OOM kill, and will not be retried for it. Use executionMode 'pool' (it reads the kernel's OOM count), Podman 5 or Docker.`,
        );
      }
    }
  }

  private once(key: string, message: string): void {
    if (this.said.has(key)) return;
    this.said.add(key);
    this.warn(message);
  }
}
