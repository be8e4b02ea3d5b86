import type { EngineFeatures } from './container-runtime.js';

/** The parts of the engine's `/version` answer that tell Docker from Podman. */
export interface EngineVersion {
  Version?: string;
  Components?: Array<{ Name?: string; Version?: string }>;
}

/** The parts of the engine's `/info` answer that tell a rootless engine and its cgroup version. */
export interface EngineInfo {
  SecurityOptions?: string[];
  /** Podman's own field (its SecurityOptions do not say it). */
  Rootless?: boolean;
  CgroupVersion?: string;
}

/** The major version of `4.3.1`; 0 when it cannot be read (read as the oldest). */
function majorVersion(version: string | undefined): number {
  return Number(/^(\d+)\./.exec(version ?? '')?.[1] ?? 0);
}

/**
 * What an engine is and can do, from its own `/version` (Podman lists a "Podman Engine" component there) and
 * `/info` (Docker lists `name=rootless` among its security options, Podman sets `Rootless`; the cgroup version).
 * The product is never guessed from a version number; a version only dates a known defect (OOM flags).
 */
export function featuresFrom(version: EngineVersion, info: EngineInfo, host: { readsKernelLog: boolean } = { readsKernelLog: false }): EngineFeatures {
  const podman = version.Components?.find((component) => component.Name === 'Podman Engine');
  const rootless = info.Rootless === true || (info.SecurityOptions ?? []).some((option) => option.split(',').includes('name=rootless'));
  const isPodman = podman !== undefined;
  const isCgroupV2 = info.CgroupVersion === '2';
  return {
    product: isPodman ? 'podman' : 'docker',
    version: podman?.Version ?? version.Version ?? 'unknown',
    rootless,
    gpus: !isPodman,
    swarm: !isPodman,
    limits: !(isPodman && rootless && !isCgroupV2),
    // Where this process reads the kernel's log (root, local engine), OOM kills are known from it instead.
    oomKills: !(isPodman && majorVersion(podman?.Version) < 5) || host.readsKernelLog,
  };
}
