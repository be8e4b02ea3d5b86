import { isDeepStrictEqual } from 'node:util';
import { ValidationError } from '../errors/validation-error.js';
import type { ExportJob, ExportSweep, ExportTemplate } from './export-sweep.js';

/** Template number `k` of every job: one file shared by all, or one per job. */
export interface TemplateSlot {
  k: number;
  /** The target when every job has the same; undefined when it varies. */
  target: string | undefined;
  /** The mode when every job has the same; undefined when it varies. */
  mode: number | undefined;
  /** The file when every job has the same one; undefined when each job has its own. */
  shared: ExportTemplate | undefined;
}

/** What differs from job to job, found by comparing every job with the first. */
export interface JobVariation {
  /** env every job has, with the same value. */
  sharedEnv: Record<string, string>;
  /** env names whose value differs, or that some jobs lack. */
  variedEnv: string[];
  /** Whether jobs differ in their command or entrypoint. */
  isProcessVaried: boolean;
  templates: TemplateSlot[];
}

/** Compares the jobs: what one pod template can hold for all, and what each job needs on its own. */
export function jobVariation(sweep: ExportSweep): JobVariation {
  const [first, ...rest] = sweep.jobs as [ExportJob, ...ExportJob[]];
  const varied = new Set<string>();
  for (const job of rest) {
    for (const key of new Set([...Object.keys(first.env), ...Object.keys(job.env)])) if (first.env[key] !== job.env[key]) varied.add(key);
    if (job.templates.length !== first.templates.length) {
      throw new ValidationError(`jobs[${job.name}].templates`, job.templates.length, `Job ${job.name} has ${job.templates.length} templates and job ${first.name} has ${first.templates.length}: an exported sweep gives every job the same template files (their contents may differ).`);
    }
  }
  const templates = first.templates.map((template, k): TemplateSlot => {
    const same = (pick: (t: ExportTemplate) => unknown): boolean => rest.every((job) => isDeepStrictEqual(pick(job.templates[k] as ExportTemplate), pick(template)));
    const isShared = same((t) => t.target) && same((t) => t.mode) && same((t) => t.content);
    return { k, target: same((t) => t.target) ? template.target : undefined, mode: same((t) => t.mode) ? template.mode : undefined, shared: isShared ? template : undefined };
  });
  return {
    sharedEnv: Object.fromEntries(Object.entries(first.env).filter(([key]) => !varied.has(key))),
    variedEnv: [...varied].sort(),
    isProcessVaried: rest.some((job) => !isDeepStrictEqual(job.command, first.command) || !isDeepStrictEqual(job.entrypoint, first.entrypoint)),
    templates,
  };
}
