import { execFileSync } from 'node:child_process';
import type Docker from 'dockerode';
import { LABELS } from '../../src/index.js';
import { docker } from './engine.js';

/** One thing of this package on the engine: a container, a swarm service or a swarm config. */
export interface EngineObject {
  kind: 'container' | 'service' | 'config';
  id: string;
  name: string;
}

/** Whether the engine is a swarm manager (services and configs can be listed). */
export async function isSwarmManager(client: Docker = docker): Promise<boolean> {
  const info = (await client.info()) as { Swarm?: { ControlAvailable?: boolean } };
  return info.Swarm?.ControlAvailable === true;
}

/**
 * The containers, services and configs labelled as made by the process `ownerPid` (this test process by
 * default): whatever a run of that process left on the engine. Services and configs only on a swarm manager.
 */
export async function engineObjectsOf(ownerPid: number = process.pid, client: Docker = docker): Promise<EngineObject[]> {
  const label = [`${LABELS.ownerPid}=${ownerPid}`];
  const containers = (await client.listContainers({ all: true, filters: { label } })).map((c) => ({ kind: 'container' as const, id: c.Id, name: c.Names[0]?.replace(/^\//, '') ?? c.Id }));
  if (!(await isSwarmManager(client))) return containers;
  const services = ((await client.listServices({ filters: { label } })) as Array<{ ID: string; Spec?: { Name?: string } }>).map((s) => ({ kind: 'service' as const, id: s.ID, name: s.Spec?.Name ?? s.ID }));
  const configs = ((await client.listConfigs({ filters: { label } })) as Array<{ ID: string; Spec?: { Name?: string } }>).map((c) => ({ kind: 'config' as const, id: c.ID, name: c.Spec?.Name ?? c.ID }));
  return [...containers, ...services, ...configs];
}

/** Removes what {@link engineObjectsOf} finds (services first: their configs are in use until they are gone). */
export async function removeEngineObjectsOf(ownerPid: number = process.pid, client: Docker = docker): Promise<void> {
  const objects = await engineObjectsOf(ownerPid, client);
  for (const o of objects.filter((x) => x.kind === 'service')) await client.getService(o.id).remove().catch(() => undefined);
  for (const o of objects.filter((x) => x.kind === 'container')) await client.getContainer(o.id).remove({ force: true, v: true }).catch(() => undefined);
  for (const o of objects.filter((x) => x.kind === 'config')) {
    for (let attempt = 0; attempt < 40; attempt++) {
      const isGone = await docker
        .getConfig(o.id)
        .remove()
        .then(
          () => true,
          (error: { statusCode?: number }) => error.statusCode === 404,
        );
      if (isGone) break;
      await new Promise((resolve) => setTimeout(resolve, 250)); // in use until the service's task is gone
    }
  }
}

/**
 * Names of the containers, services and configs the engine reports as created between `sinceMs` and now
 * (from its event log, so objects that were created and removed again count too): containers labelled with
 * `ownerPid`, and services and configs whose name contains one of `names` (their create events carry no labels).
 */
export async function engineCreationsSince(sinceMs: number, names: readonly string[], ownerPid: number = process.pid, client: Docker = docker): Promise<string[]> {
  // `until` in the past: the engine replays what it recorded in the window and ends the stream at once.
  const window = { since: (sinceMs / 1000).toFixed(3), until: (Date.now() / 1000).toFixed(3) };
  const stream = (await client.getEvents({ ...window, filters: { event: ['create'] } } as unknown as Parameters<typeof docker.getEvents>[0])) as unknown as NodeJS.ReadableStream;
  let text = '';
  for await (const chunk of stream) text += (chunk as Buffer).toString();
  const created: string[] = [];
  for (const line of text.split('\n').filter(Boolean)) {
    const event = JSON.parse(line) as { Type?: string; Action?: string; Actor?: { Attributes?: Record<string, string> } };
    const attributes = event.Actor?.Attributes ?? {};
    const name = attributes.name ?? '';
    if (event.Type === 'container' && attributes[LABELS.ownerPid] === String(ownerPid)) created.push(`container ${name}`);
    else if ((event.Type === 'service' || event.Type === 'config') && names.some((n) => name.includes(n))) created.push(`${event.Type} ${name}`);
  }
  return created;
}

/** Makes the local engine a swarm manager unless it is one; resolves with whether this call did it. */
export async function ensureSwarm(): Promise<boolean> {
  if (await isSwarmManager()) return false;
  execFileSync('docker', ['swarm', 'init', '--advertise-addr', '127.0.0.1'], { stdio: 'ignore' });
  return true;
}

export function leaveSwarm(): void {
  execFileSync('docker', ['swarm', 'leave', '--force'], { stdio: 'ignore' });
}
