import { createHash } from 'node:crypto';

/** Swarm names services as DNS name components (configs get `-c<n>` appended, so names keep room for it); Slurm job and container names use the same. */
const MAX_SERVICE_NAME = 56;

/**
 * The name of an attempt's service (swarm) or Slurm job and container: `dsim-<runId>-<attempt>-<job>`, valid as a DNS name component for any
 * valid job name. Dots become dashes and long names are cut; whenever the job name had to change, a short hash
 * of it is appended, so two jobs never share a name in a run (`a.b` and `a_b` stay apart). The job's real name
 * is on the service's labels.
 */
export function attemptName(runId: string, jobName: string, attempt: number): string {
  const prefix = `dsim-${runId}-${attempt}-`;
  const room = MAX_SERVICE_NAME - prefix.length;
  const clean = jobName.replace(/\./g, '-');
  if (clean === jobName && clean.length <= room && /[A-Za-z0-9]$/.test(clean)) return prefix + clean;
  const hash = createHash('sha256').update(jobName).digest('hex').slice(0, 8);
  const slug = clean.slice(0, room - hash.length - 1).replace(/[-_]+$/, '');
  return `${prefix}${slug}${slug === '' ? '' : '-'}${hash}`;
}
