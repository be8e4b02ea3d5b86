import type Docker from 'dockerode';
import type { ContainerSpec } from './container-runtime.js';

/**
 * The engine's create request for a container spec: the job's process, env, user and labels, its mounts, limits
 * and hardening. `keepsId` (rootless Podman) maps the caller's uid to itself inside, so a job running as the
 * caller writes the mounted job folder and leaves files the caller owns.
 */
export function containerCreateOptions(spec: ContainerSpec, options: { keepsId: boolean }): Docker.ContainerCreateOptions {
  const { keepsId } = options;
  return {
    name: spec.name,
    Image: spec.image,
    ...(spec.cmd === undefined ? {} : { Cmd: spec.cmd }),
    ...(spec.entrypoint === undefined ? {} : { Entrypoint: spec.entrypoint }),
    Env: Object.entries(spec.env).map(([key, value]) => `${key}=${value}`),
    ...(spec.workingDir === undefined ? {} : { WorkingDir: spec.workingDir }),
    ...(spec.user === undefined ? {} : { User: spec.user }),
    Labels: spec.labels,
    ...(spec.volumes?.length ? { Volumes: Object.fromEntries(spec.volumes.map((v) => [v, {}])) } : {}),
    Tty: false,
    OpenStdin: false,
    AttachStdin: false,
    AttachStdout: true,
    AttachStderr: true,
    HostConfig: {
      ...(keepsId ? { UsernsMode: 'keep-id' } : {}),
      Binds: spec.binds.map((b) => `${b.hostPath}:${b.containerPath}:${b.isReadOnly ? 'ro' : 'rw'}`),
      ...(spec.networkMode === undefined ? {} : { NetworkMode: spec.networkMode }),
      ...(spec.nanoCpus === undefined ? {} : { NanoCpus: spec.nanoCpus }),
      ...(spec.memoryBytes === undefined ? {} : { Memory: spec.memoryBytes }),
      ...(spec.gpus === undefined
        ? {}
        : { DeviceRequests: [{ Driver: '', Count: spec.gpus === 'all' ? -1 : spec.gpus, Capabilities: [['gpu']] }] }),
      ...(spec.readOnlyRootfs ? { ReadonlyRootfs: true } : {}),
      ...(spec.capDrop?.length ? { CapDrop: spec.capDrop } : {}),
      ...(spec.capAdd?.length ? { CapAdd: spec.capAdd } : {}),
      ...(spec.noNewPrivileges ? { SecurityOpt: ['no-new-privileges'] } : {}),
      ...(spec.pidsLimit === undefined ? {} : { PidsLimit: spec.pidsLimit }),
      ...(spec.init ? { Init: true } : {}),
      // Writable by the job's (possibly unprivileged) user, like a fresh /tmp.
      ...(spec.tmpfs?.length ? { Tmpfs: Object.fromEntries(spec.tmpfs.map((p) => [p, 'rw,nosuid,nodev,mode=1777'])) } : {}),
    },
  };
}
