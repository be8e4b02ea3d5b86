import path from 'node:path';
import { chunkedConfigMaps } from './config-maps.js';
import type { ExportJob } from './export-sweep.js';
import type { TemplateSlot } from './job-variation.js';
import type { KubernetesObject, ObjectMeta } from './kubernetes-object.js';

/** Where template volumes are mounted in a pod that copies them (Kubernetes' prepare step). */
export const TEMPLATES_DIR = '/dsim/templates';

/** The ConfigMap key of template slot `k`: one key for a shared file, one per job (by its position) otherwise. */
export function templateKey(slot: TemplateSlot, position: number | string): string {
  return slot.shared ? `t${slot.k}` : `t${slot.k}-${position}`;
}

/** The volume of template slot `k`. */
export function templateVolumeName(slot: TemplateSlot): string {
  return `template-${slot.k}`;
}

/**
 * The ConfigMaps and the volume of each template slot: a shared file is one key; a file per job is one key per
 * job, spread over as many ConfigMaps as its size needs, projected into one volume (mode as the file's).
 */
export function templateVolumes(base: string, slots: readonly TemplateSlot[], jobs: readonly ExportJob[], metadata: ObjectMeta): { configMaps: KubernetesObject[]; volumes: unknown[] } {
  const configMaps: KubernetesObject[] = [];
  const volumes: unknown[] = [];
  for (const slot of slots) {
    const entries = slot.shared ? [[templateKey(slot, 0), slot.shared.content] as const] : jobs.map((job, i) => [templateKey(slot, i), job.templates[slot.k]?.content ?? Buffer.alloc(0)] as const);
    const maps = chunkedConfigMaps(`${base}-t${slot.k}`, entries, metadata);
    configMaps.push(...maps);
    volumes.push({
      name: templateVolumeName(slot),
      projected: { ...(slot.mode === undefined ? {} : { defaultMode: slot.mode }), sources: maps.map((map) => ({ configMap: { name: map.metadata.name } })) },
    });
  }
  return { configMaps, volumes };
}

/** A template's target relative to the job folder (templates under the mount path). */
export function relativeTarget(target: string, mountPath: string): string {
  return path.posix.relative(mountPath, target);
}
