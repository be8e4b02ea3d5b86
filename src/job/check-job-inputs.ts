import { constants } from 'node:fs';
import { access, readdir, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { ValidationError } from '../errors/validation-error.js';
import type { ResolvedTemplate } from '../archive/pack-templates.js';
import type { NormalizedTemplate } from './job-settings.js';

/** A job's folder may exist only while empty: outputs of an earlier run are never overwritten. */
export async function checkOutputDirIsFree(jobName: string, outputDir: string): Promise<void> {
  const entries = await readdir(outputDir).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return [];
    if (error.code === 'ENOTDIR') return ['(a file)'];
    throw new ValidationError(`jobs[${jobName}]`, outputDir, `Cannot read the output folder of job ${jobName} (${outputDir}): ${error.message}.`, { cause: error });
  });
  if (entries.length > 0) {
    throw new ValidationError(
      `jobs[${jobName}]`,
      outputDir,
      `The output folder of job ${jobName} (${outputDir}) already holds files from an earlier run. Nothing was overwritten. To continue that run (jobs that succeeded are skipped, the others run again with their earlier output set aside), set \`resume: true\` (dsim: \`dsim run --resume\`); to start afresh, choose another dataDirectory, or move or remove that folder.`,
    );
  }
}

/** Checks each template source exists and is readable, and places it in the container. */
export async function resolveTemplates(
  jobName: string,
  templates: readonly NormalizedTemplate[],
  mountPath: string,
): Promise<ResolvedTemplate[]> {
  return Promise.all(
    templates.map(async (template, index): Promise<ResolvedTemplate> => {
      if (template.kind === 'content') return template;
      const field = `jobs[${jobName}].templates[${index}]`;
      let isDirectory: boolean;
      let source: string;
      try {
        isDirectory = (await stat(template.source)).isDirectory();
        await access(template.source, constants.R_OK);
        // A template the user named is followed if it is a link; links inside a template folder are packed
        // as links, never followed, so nothing outside the folder is read.
        source = await realpath(template.source);
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        throw new ValidationError(
          field,
          template.source,
          code === 'ENOENT'
            ? `Template source '${template.source}' of job ${jobName} does not exist. Relative paths are resolved from the folder the SimJob was made in.`
            : `Template source '${template.source}' of job ${jobName} cannot be read (${code}).`,
          { cause: error },
        );
      }
      const target = template.target ?? path.posix.join(mountPath, path.basename(template.source));
      return { kind: 'path', source, target, isDirectory };
    }),
  );
}
