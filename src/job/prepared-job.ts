import path from 'node:path';
import type { CopyOutItem } from '../archive/copy-outputs.js';
import type { ResolvedTemplate } from '../archive/pack-templates.js';
import { ValidationError } from '../errors/validation-error.js';
import { applySecurityPreset, mergeSettings, type NormalizedSettings } from '../job/job-settings.js';
import type { LogFiles } from '../job/log-sink.js';
import type { SimJob } from '../job/sim-job.js';
import type { ContainerSpec } from '../runtime/container-runtime.js';
import { checkOutputDirIsFree, resolveTemplates } from './check-job-inputs.js';
import { LABELS } from '../runtime/labels.js';
import { ownerLabels } from '../runtime/owner.js';
import { isUnderMountPath } from '../util/under-mount-path.js';

/** A job made ready to run on an engine of one locality: settings merged, folders and container spec decided. */
export interface PreparedJob {
  job: SimJob;
  settings: NormalizedSettings;
  /** Where the templates archive is extracted: `/`, or the mount path when the root file system is read-only. */
  archiveRoot: string;
  /** The container a fresh-container attempt creates (name and image are set per attempt). */
  spec: ContainerSpec;
  templates: ResolvedTemplate[];
  outputDir: string;
  logFiles: LogFiles;
  outputMode: 'bind' | 'copy';
  /** Container paths copied into the job folder after the exit (copy mode's mount path, `collect`). */
  copyOut: CopyOutItem[];
  /** Who owns the templates and the copy-mode mount folder in the container. */
  owner: { uid: number; gid: number };
  ownedDirectories: Array<{ path: string; mode: number }>;
  limits: { maxLogBytes: number; maxOutputBytes: number; maxOutputEntries: number };
}

/** What every job of a manager shares when it is prepared. */
export interface PrepareJobOptions {
  defaults: NormalizedSettings;
  dataDirectory: string;
  mountPath: string;
  /** With resume, a job folder that holds files is set aside later instead of refused now. */
  resume: boolean;
  /** The uid:gid of the caller: containers on a local engine run as it unless the job names a user. */
  caller: { uid: number; gid: number };
}

const DEFAULT_MAX_LOG_BYTES = 1024 ** 3;
const DEFAULT_MAX_OUTPUT_BYTES = 10 * 1024 ** 3;
const DEFAULT_MAX_OUTPUT_ENTRIES = 100_000;

/** With a read-only root file system, files can only be put into mounts: templates must go under the mount path. */
function checkReadOnlyTemplates(jobName: string, templates: readonly ResolvedTemplate[], mountPath: string): void {
  templates.forEach((template, index) => {
    if (isUnderMountPath(template.target, mountPath)) return;
    throw new ValidationError(
      `jobs[${jobName}].templates[${index}].target`,
      template.target,
      `Job ${jobName} has a read-only root file system (readOnlyRootfs or security: 'strict'), so template ${index} cannot be written to ${template.target}. Put it under the mount path (${mountPath}) or set readOnlyRootfs: false.`,
    );
  });
}

/** What settings make of a container besides its process: network, limits, hardening. */
export function containerShape(settings: NormalizedSettings): Partial<ContainerSpec> {
  return {
    ...(settings.network === undefined ? {} : { networkMode: settings.network }),
    ...(settings.nanoCpus === undefined ? {} : { nanoCpus: settings.nanoCpus }),
    ...(settings.memoryBytes === undefined ? {} : { memoryBytes: settings.memoryBytes }),
    ...(settings.gpus === undefined ? {} : { gpus: settings.gpus }),
    ...(settings.readOnlyRootfs ? { readOnlyRootfs: true } : {}),
    ...(settings.capDrop ? { capDrop: settings.capDrop } : {}),
    ...(settings.capAdd ? { capAdd: settings.capAdd } : {}),
    ...(settings.noNewPrivileges ? { noNewPrivileges: true } : {}),
    ...(settings.pidsLimit === undefined ? {} : { pidsLimit: settings.pidsLimit }),
    ...(settings.tmpfs?.length ? { tmpfs: settings.tmpfs } : {}),
  };
}

/** The folders between `mountPath` and the templates that lie under it (parents first, each once). */
function foldersUnder(mountPath: string, templates: readonly ResolvedTemplate[]): string[] {
  const folders = new Set<string>();
  for (const { target } of templates) {
    if (!target.startsWith(`${mountPath}/`)) continue;
    const parts = path.posix.relative(mountPath, path.posix.dirname(target)).split('/').filter((part) => part !== '' && part !== '.');
    for (let i = 1; i <= parts.length; i++) folders.add(path.posix.join(mountPath, ...parts.slice(0, i)));
  }
  return [...folders];
}

/**
 * Prepares a job for an engine that is local (`isLocal`: host folders can be bind-mounted) or remote. Checks
 * what touches the disk (an empty job folder, readable templates); creates nothing. Backend-specific refusals
 * come after, from `Backend.checkJob`.
 */
export async function prepareJob(job: SimJob, options: PrepareJobOptions, isLocal: boolean): Promise<PreparedJob> {
  const { mountPath } = options;
  const settings = applySecurityPreset(mergeSettings(options.defaults, job.settings));
  const outputDir = path.join(options.dataDirectory, `job_${job.name}`);
  if (!options.resume) await checkOutputDirIsFree(job.name, outputDir);
  const templates = await resolveTemplates(job.name, settings.templates ?? [], mountPath);
  if (settings.readOnlyRootfs) checkReadOnlyTemplates(job.name, templates, mountPath);
  const { caller } = options;
  const user = settings.user ?? (isLocal && process.getuid ? `${caller.uid}:${caller.gid}` : undefined);
  const numericUser = settings.user === undefined ? undefined : /^(\d+)(?::(\d+))?$/.exec(settings.user);
  const fileOwner = numericUser ? { uid: Number(numericUser[1]), gid: Number(numericUser[2] ?? 0) } : undefined;
  const requested = settings.outputMode ?? 'auto';
  const outputMode = requested === 'auto' ? (isLocal ? 'bind' : 'copy') : requested;
  if (outputMode === 'copy' && settings.readOnlyRootfs && user !== undefined && !/^0(:\d+)?$/.test(user) && user !== 'root') {
    // The engine extracts into a volume's root but never changes the root's own owner, and a read-only root
    // file system allows extracting only inside the volume: its owner cannot be set for a non-root user.
    throw new ValidationError(
      `jobs[${job.name}].user`,
      user,
      `Job ${job.name} combines outputMode 'copy', a read-only root file system and the non-root user ${user}: that user could not write to ${mountPath}. Use outputMode 'bind' (local engines), readOnlyRootfs: false, or user '0'.`,
    );
  }
  const copyOut: CopyOutItem[] = [
    ...(outputMode === 'copy' ? [{ containerPath: mountPath, stripFirst: true }] : []),
    ...(settings.collect ?? []).map((containerPath) => ({ containerPath, stripFirst: false })),
  ];
  const spec: ContainerSpec = {
    name: '',
    image: '',
    ...(settings.argv === undefined ? {} : { cmd: settings.argv }),
    ...(settings.entrypoint === undefined ? {} : { entrypoint: settings.entrypoint }),
    env: settings.env ?? {},
    ...(settings.workingDir === undefined ? {} : { workingDir: settings.workingDir }),
    ...(user === undefined ? {} : { user }),
    labels: { ...settings.labels, [LABELS.job]: job.name, ...ownerLabels() },
    binds: outputMode === 'bind' ? [{ hostPath: outputDir, containerPath: mountPath }] : [],
    ...(outputMode === 'copy' ? { volumes: [mountPath] } : {}),
    ...containerShape(settings),
    ...(settings.init ? { init: true } : {}),
  };
  return {
    job,
    settings,
    // A read-only root file system takes files only in mounts: the templates then go in at the mount path.
    archiveRoot: settings.readOnlyRootfs ? mountPath : '/',
    spec,
    templates,
    outputDir,
    logFiles: { combined: path.join(outputDir, 'log.txt'), stdout: path.join(outputDir, 'stdout.log'), stderr: path.join(outputDir, 'stderr.log') },
    outputMode,
    copyOut,
    owner: fileOwner ?? caller,
    // In copy mode the mount path is a fresh volume owned by root: create it owned by the job's user, or
    // writable by anyone when the user is a name we cannot resolve (the volume is private to the container).
    // The folders templates need under the mount path are made owned too: an engine makes a missing parent
    // as root (rootless Podman: as a uid of the user's subordinate range), which the user could not clean up.
    ownedDirectories: [
      ...(outputMode === 'copy' ? [{ path: mountPath, mode: fileOwner || !settings.user ? 0o755 : 0o777 }] : []),
      ...foldersUnder(mountPath, templates).map((folder) => ({ path: folder, mode: 0o755 })),
    ],
    limits: {
      maxLogBytes: settings.maxLogBytes ?? DEFAULT_MAX_LOG_BYTES,
      maxOutputBytes: settings.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES,
      maxOutputEntries: settings.maxOutputEntries ?? DEFAULT_MAX_OUTPUT_ENTRIES,
    },
  };
}

/** The top-level names in a job's folder that are not its outputs: its logs and the templates it was given. */
export function ownFiles(job: PreparedJob, mountPath: string): Set<string> {
  const logs = [job.logFiles.combined, job.logFiles.stdout, job.logFiles.stderr].map((file) => path.basename(file));
  const templates = job.templates.filter((t) => t.target.startsWith(`${mountPath}/`)).map((t) => t.target.slice(mountPath.length + 1).split('/')[0] ?? '');
  return new Set([...logs, ...templates]);
}
