import { readFile, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import type { ResolvedTemplate } from '../../archive/pack-templates.js';

/** Swarm refuses configs over 500 KB. */
export const SWARM_CONFIG_MAX_BYTES = 500 * 1024;

/** One file of a template, as a swarm config carries it. */
export interface ConfigFile {
  target: string;
  data(): Promise<Buffer>;
  size: number;
  mode: number;
  source: string;
}

/** The files a template outside the mount path becomes, one swarm config each (folders are walked). */
export async function configFiles(template: ResolvedTemplate): Promise<ConfigFile[]> {
  if (template.kind === 'content') return [{ target: template.target, data: async () => template.content, size: template.content.length, mode: template.mode, source: template.target }];
  const walk = async (source: string, target: string): Promise<ConfigFile[]> => {
    const info = await stat(source);
    if (!info.isDirectory()) return [{ target, data: () => readFile(source), size: info.size, mode: info.mode & 0o777, source }];
    const entries = (await readdir(source)).sort();
    return (await Promise.all(entries.map((entry) => walk(path.join(source, entry), path.posix.join(target, entry))))).flat();
  };
  return walk(template.source, template.target);
}
