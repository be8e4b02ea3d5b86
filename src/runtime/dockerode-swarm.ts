import type Docker from 'dockerode';
import type { Readable } from 'node:stream';
import { demuxStream } from './demux.js';
import { labelFilters, type ModemLike } from './docker-endpoint.js';
import { statusCodeOf } from './map-engine-error.js';
import type { SwarmOperations } from './container-runtime.js';

/**
 * The swarm operations of a `DockerodeRuntime`: services as one-off replicated jobs, configs, tasks and service
 * logs. `fail` maps an engine failure to the package's errors, as the runtime does.
 */
export function dockerodeSwarm(docker: Docker, fail: (operation: string, error: unknown) => never): SwarmOperations {
  return {
    isManager: async () => {
      try {
        const info = (await docker.info()) as { Swarm?: { ControlAvailable?: boolean } };
        return info.Swarm?.ControlAvailable === true;
      } catch (error) {
        fail('describe itself (docker info)', error);
      }
    },
    createConfig: async (name, data, labels) => {
      try {
        const config = (await docker.createConfig({ Name: name, Labels: labels, Data: data.toString('base64') })) as { id?: string; ID?: string };
        return config.id ?? config.ID ?? '';
      } catch (error) {
        fail(`create swarm config ${name}`, error);
      }
    },
    removeConfig: async (id) => {
      try {
        await docker.getConfig(id).remove();
      } catch (error) {
        if (statusCodeOf(error) !== 404) fail(`remove swarm config ${id.slice(0, 12)}`, error);
      }
    },
    createService: async (spec) => {
      try {
        const service = await docker.createService({
          Name: spec.name,
          Labels: spec.labels,
          TaskTemplate: {
            ContainerSpec: {
              Image: spec.image,
              ...(spec.entrypoint === undefined ? {} : { Command: spec.entrypoint }),
              ...(spec.args === undefined ? {} : { Args: spec.args }),
              Env: Object.entries(spec.env).map(([key, value]) => `${key}=${value}`),
              ...(spec.user === undefined ? {} : { User: spec.user }),
              ...(spec.workingDir === undefined ? {} : { Dir: spec.workingDir }),
              Labels: spec.labels,
              Mounts: spec.binds.map((b) => ({ Type: 'bind', Source: b.hostPath, Target: b.containerPath, ReadOnly: b.isReadOnly ?? false })),
              Configs: spec.configs.map((c) => ({ ConfigID: c.configId, ConfigName: c.configName, File: { Name: c.target, UID: String(c.uid), GID: String(c.gid), Mode: c.mode } })),
              ...(spec.init ? { Init: true } : {}),
              ...(spec.readOnlyRootfs ? { ReadOnly: true } : {}),
              ...(spec.capDrop?.length ? { CapabilityDrop: spec.capDrop } : {}),
              ...(spec.capAdd?.length ? { CapabilityAdd: spec.capAdd } : {}),
            },
            Resources: {
              Limits: { ...(spec.nanoCpus === undefined ? {} : { NanoCPUs: spec.nanoCpus }), ...(spec.memoryBytes === undefined ? {} : { MemoryBytes: spec.memoryBytes }) },
              Reservations: { ...(spec.nanoCpus === undefined ? {} : { NanoCPUs: spec.nanoCpus }), ...(spec.memoryBytes === undefined ? {} : { MemoryBytes: spec.memoryBytes }) },
            },
            RestartPolicy: { Condition: 'none', MaxAttempts: 0 },
          },
          Mode: { ReplicatedJob: { MaxConcurrent: 1, TotalCompletions: 1 } },
        } as unknown as Docker.CreateServiceOptions);
        return (service as unknown as { id: string }).id;
      } catch (error) {
        fail(`create swarm service ${spec.name}`, error);
      }
    },
    tasks: async (serviceId) => {
      try {
        const tasks = (await docker.listTasks({ filters: { service: [serviceId] } })) as Array<{
          CreatedAt?: string;
          Status?: { State?: string; Err?: string; ContainerStatus?: { ExitCode?: number; ContainerID?: string } };
        }>;
        return tasks
          .sort((a, b) => String(b.CreatedAt).localeCompare(String(a.CreatedAt)))
          .map((task) => ({
            state: task.Status?.State ?? 'unknown',
            exitCode: typeof task.Status?.ContainerStatus?.ExitCode === 'number' ? task.Status.ContainerStatus.ExitCode : null,
            ...(task.Status?.Err ? { error: task.Status.Err } : {}),
            ...(task.Status?.ContainerStatus?.ContainerID ? { containerId: task.Status.ContainerStatus.ContainerID } : {}),
          }));
      } catch (error) {
        fail(`list the tasks of service ${serviceId.slice(0, 12)}`, error);
      }
    },
    logs: async (serviceId, options = {}) => {
      const modem = docker.modem as unknown as ModemLike;
      const raw = await new Promise<Readable>((resolve, reject) => {
        modem.dial(
          {
            path: `/services/${serviceId}/logs?`,
            method: 'GET',
            options: { stdout: true, stderr: true, follow: options.follow ?? true },
            isStream: true,
            statusCodes: { 200: true, 404: 'no such service', 500: 'server error', 503: 'node is not part of a swarm' },
          },
          (error, stream) => (error ? reject(error as Error) : resolve(stream as Readable)),
        );
      }).catch((error: unknown) => fail(`read the logs of service ${serviceId.slice(0, 12)}`, error));
      const { stdout, stderr } = demuxStream(raw);
      return { stdout, stderr, close: () => raw.destroy() };
    },
    removeService: async (serviceId) => {
      try {
        await docker.getService(serviceId).remove();
      } catch (error) {
        if (statusCodeOf(error) !== 404) fail(`remove swarm service ${serviceId.slice(0, 12)}`, error);
      }
    },
    listServices: async (labels) => {
      try {
        const services = (await docker.listServices({ filters: labelFilters(labels) })) as Array<{ ID: string; Spec?: { Name?: string; Labels?: Record<string, string> }; CreatedAt?: string }>;
        return services.map((s) => ({ id: s.ID, name: s.Spec?.Name ?? '', state: 'service', labels: s.Spec?.Labels ?? {}, createdAt: Date.parse(s.CreatedAt ?? '') || 0 }));
      } catch (error) {
        fail('list swarm services', error);
      }
    },
    listConfigs: async (labels) => {
      try {
        const configs = (await docker.listConfigs({ filters: labelFilters(labels) })) as Array<{ ID: string; Spec?: { Name?: string; Labels?: Record<string, string> } }>;
        return configs.map((c) => ({ id: c.ID, name: c.Spec?.Name ?? '', labels: c.Spec?.Labels ?? {} }));
      } catch (error) {
        fail('list swarm configs', error);
      }
    },
  };
}
