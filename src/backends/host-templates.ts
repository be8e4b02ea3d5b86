import { cp, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { ResolvedTemplate } from '../archive/pack-templates.js';
import { isUnderMountPath } from '../util/under-mount-path.js';

/**
 * Writes the templates that target the mount path straight into the job folder on the host (for backends that
 * mount the folder instead of copying into a container before it starts).
 */
export async function writeHostTemplates(templates: readonly ResolvedTemplate[], mountPath: string, outputDir: string): Promise<void> {
  for (const template of templates) {
    if (!isUnderMountPath(template.target, mountPath)) continue;
    await writeTemplate(template, path.join(outputDir, path.posix.relative(mountPath, template.target)));
  }
}

/** Writes one template's content, file or folder at `target` on the host (its parents made). */
export async function writeTemplate(template: ResolvedTemplate, target: string): Promise<void> {
  await mkdir(path.dirname(target), { recursive: true });
  if (template.kind === 'content') await writeFile(target, template.content, { mode: template.mode });
  else await cp(template.source, target, { recursive: true, verbatimSymlinks: true, errorOnExist: true, force: false, preserveTimestamps: true });
}
