import { link, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { ValidationError } from '../errors/validation-error.js';
import { toArgoWorkflow } from '../export/argo-workflow.js';
import type { ClusterOptions } from '../export/cluster-options.js';
import { toKubernetes } from '../export/kubernetes-job.js';
import { toYaml } from '../export/to-yaml.js';
import { loadSweepFile } from '../sweep/expand-sweep.js';
import { EXIT, reportError, type Out } from './cli-exit.js';

const TARGETS = { kubernetes: toKubernetes, argo: toArgoWorkflow } as const;

/** `dsim-<file stem>` as a DNS label: the default name of the Job or Workflow. */
function defaultName(file: string): string {
  const stem = path.basename(file).replace(/\.(ya?ml|json)$/i, '').toLowerCase().replace(/[^a-z0-9-]+/g, '-');
  return `dsim-${stem}`.slice(0, 40).replace(/-+$/, '');
}

/** Writes `text` to `file` whole or not at all; an existing file is kept unless `force`. */
async function writeOutput(file: string, text: string, force: boolean): Promise<void> {
  const temporary = `${file}.${process.pid}.tmp`;
  try {
    await writeFile(temporary, text, { flag: 'wx', mode: 0o644 });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new ValidationError('--output', file, `Cannot write ${file} (${code}): ${code === 'ENOENT' ? 'its folder does not exist; create it first' : (error as Error).message}.`, { cause: error });
  }
  try {
    if (force) await rename(temporary, file);
    // A hard link is made only where no file is: what is there is never replaced unasked.
    else await link(temporary, file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') throw new ValidationError('--output', file, `${file} exists; dsim export does not overwrite files. Choose another --output, or add --force to replace it.`);
    throw error;
  } finally {
    await rm(temporary, { force: true });
  }
}

/** `dsim export <sweep> --to kubernetes|argo [--output FILE] [--force]`: YAML on stdout, or in FILE. */
export async function exportCommand(args: string[], out: Out): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { to: { type: 'string' }, output: { type: 'string', short: 'o' }, force: { type: 'boolean', default: false } },
  });
  if (positionals.length !== 1) {
    out.stderr.write(`dsim export: expected one sweep file, got ${positionals.length}\n`);
    return EXIT.badInput;
  }
  const target = values.to;
  if (target !== 'kubernetes' && target !== 'argo') {
    out.stderr.write(`dsim export: --to must be 'kubernetes' or 'argo', got ${target === undefined ? 'nothing' : `'${target}'`}\n`);
    return EXIT.badInput;
  }
  try {
    const file = positionals[0] as string;
    const sweep = await loadSweepFile(file);
    const cluster = sweep.spec.kubernetes === undefined ? undefined : ({ name: defaultName(file), ...sweep.spec.kubernetes } as ClusterOptions);
    const objects = await TARGETS[target]({ options: sweep.options, jobs: sweep.jobs }, cluster as ClusterOptions);
    const name = (objects.find((o) => o.kind === 'Workflow' || o.kind === 'Job')?.metadata.name ?? '').replace(/-p0$/, '');
    const apply = target === 'argo' ? `kubectl create -f FILE (the ConfigMaps and the Workflow), then: argo watch ${name}` : `kubectl create -f FILE, then: kubectl get jobs -l docker-sim-manager.run=${name}`;
    const yaml = toYaml(objects, `Made by docker-sim-manager (dsim export --to ${target}) from ${path.basename(file)}: ${sweep.jobs.count} jobs.\nRun with: ${apply}. See docs/kubernetes.md.`);
    if (values.output === undefined) out.stdout.write(yaml);
    else {
      await writeOutput(values.output, yaml, values.force ?? false);
      out.stderr.write(`dsim export: wrote ${objects.length} objects (${sweep.jobs.count} jobs) to ${values.output}\n`);
    }
    return EXIT.ok;
  } catch (error) {
    return reportError(error, false, out);
  }
}
