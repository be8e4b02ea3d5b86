import path from 'node:path';
import { ValidationError, describeValue } from '../errors/validation-error.js';
import { parseCommand } from '../util/parse-command.js';
import { parseMemory } from '../util/parse-memory.js';

/**
 * A file to place in the container before it starts.
 * - `'./config.yaml'` or `{ source: './config.yaml' }`: a host file or folder, copied into `mountPath`.
 * - `{ source: './inputs', target: '/sim/inputs' }`: a host file or folder, copied to `target`.
 * - `{ content: 'seed=3\n', target: '/sim/config.txt', mode: 0o644 }`: in-memory content.
 */
export type TemplateSpec =
  | string
  | { source: string; target?: string }
  | { content: string | Uint8Array; target: string; mode?: number };

/** Settings a job has, and that the manager's `defaults` give every job. */
export interface JobSettings {
  /** Arguments appended to the image's entrypoint, as in `docker run IMAGE ARGS`. A string is split like a POSIX shell would. */
  command?: string | readonly string[];
  /** Files copied into the container (as tar streams) after it is created and before it starts. */
  templates?: readonly TemplateSpec[];
  /** Environment variables. The manager's defaults are merged with the job's (the job wins). */
  env?: Record<string, string>;
  workingDir?: string;
  /** `uid[:gid]` or a user name. Default on Linux with a local engine: the calling process's uid:gid. */
  user?: string;
  /** Extra container labels. The `docker-sim-manager.*` labels cannot be overridden. */
  labels?: Record<string, string>;
  /** CPU limit in (fractional) cores, e.g. `1.5`. */
  cpus?: number;
  /** Memory limit: bytes, or a size like `'512m'` or `'2g'`. */
  memory?: number | string;
  /** GPUs to request: `'all'` or a count. */
  gpus?: 'all' | number;
  /** Network mode, e.g. `'none'`. @default the engine's default network */
  network?: string;
  /** Overrides the image's entrypoint. A string is split like `command`. */
  entrypoint?: string | readonly string[];
  /** Extra container paths copied out after the job exits, into the job folder under their base names. */
  collect?: readonly string[];
  /**
   * How the job folder reaches the container: `'bind'` mounts the host folder; `'copy'` backs `mountPath` with
   * an anonymous volume and copies its contents out after exit (for remote engines); `'auto'` picks `bind` for
   * a local engine and `copy` for a remote one. @default 'auto'
   */
  outputMode?: OutputMode;
  /** Output (stdout + stderr) kept per job; the rest is dropped with one marker line. @default 1 GiB */
  maxLogBytes?: number;
  /** Bytes of outputs copied out of the container per job (copy mode and `collect`). @default 10 GiB */
  maxOutputBytes?: number;
  /** Files and folders copied out of the container per job. @default 100000 */
  maxOutputEntries?: number;
}

/** How a job's output folder reaches its container. */
export type OutputMode = 'auto' | 'bind' | 'copy';

/** A template after validation: absolute host paths, content as bytes. */
export type NormalizedTemplate =
  | { kind: 'path'; source: string; target?: string }
  | { kind: 'content'; content: Buffer; target: string; mode: number };

/** JobSettings after validation. */
export interface NormalizedSettings {
  argv?: string[];
  templates?: NormalizedTemplate[];
  env?: Record<string, string>;
  workingDir?: string;
  user?: string;
  labels?: Record<string, string>;
  nanoCpus?: number;
  memoryBytes?: number;
  gpus?: 'all' | number;
  network?: string;
  entrypoint?: string[];
  collect?: string[];
  outputMode?: OutputMode;
  maxLogBytes?: number;
  maxOutputBytes?: number;
  maxOutputEntries?: number;
}

const SETTING_KEYS = new Set([
  'command',
  'templates',
  'env',
  'workingDir',
  'user',
  'labels',
  'cpus',
  'memory',
  'gpus',
  'network',
  'entrypoint',
  'collect',
  'outputMode',
  'maxLogBytes',
  'maxOutputBytes',
  'maxOutputEntries',
]);
const OUTPUT_MODES: readonly OutputMode[] = ['auto', 'bind', 'copy'];

function fail(field: string, value: unknown, expectation: string): never {
  throw new ValidationError(field, value, `Expected \`${field}\` to be ${expectation}, got ${describeValue(value)}.`);
}

function stringRecord(value: unknown, field: string, kind: 'env' | 'labels'): Record<string, string> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(field, value, 'an object of strings');
  const out: Record<string, string> = {};
  for (const [key, entry] of Object.entries(value)) {
    if (kind === 'env' && (key === '' || key.includes('=') || key.includes('\0'))) {
      throw new ValidationError(`${field}.${key}`, key, `Environment variable names must be non-empty and contain no '=', got ${describeValue(key)}.`);
    }
    if (typeof entry !== 'string') fail(`${field}.${key}`, entry, 'a string (convert numbers with String())');
    out[key] = entry;
  }
  return out;
}

function normalizeTemplate(template: unknown, field: string): NormalizedTemplate {
  if (typeof template === 'string') {
    if (template === '') fail(field, template, 'a non-empty path');
    return { kind: 'path', source: path.resolve(template) };
  }
  if (typeof template !== 'object' || template === null) fail(field, template, 'a path, { source, target? } or { content, target, mode? }');
  const t = template as Record<string, unknown>;
  if (t.target !== undefined && (typeof t.target !== 'string' || !t.target.startsWith('/'))) {
    fail(`${field}.target`, t.target, 'an absolute path inside the container');
  }
  if ('content' in t) {
    if (typeof t.target !== 'string') fail(`${field}.target`, t.target, 'an absolute path inside the container (required with content)');
    if (typeof t.content !== 'string' && !(t.content instanceof Uint8Array)) fail(`${field}.content`, t.content, 'a string or bytes');
    const mode = t.mode ?? 0o644;
    if (typeof mode !== 'number' || !Number.isInteger(mode) || mode < 0 || mode > 0o7777) fail(`${field}.mode`, mode, 'a file mode like 0o644');
    return { kind: 'content', content: Buffer.from(t.content), target: path.posix.normalize(t.target), mode };
  }
  if (typeof t.source !== 'string' || t.source === '') fail(`${field}.source`, t.source, 'a host path');
  return {
    kind: 'path',
    source: path.resolve(t.source),
    ...(typeof t.target === 'string' ? { target: path.posix.normalize(t.target) } : {}),
  };
}

/** Validates job settings (of a job, or of the manager's `defaults`); `prefix` names where they came from. */
export function normalizeSettings(settings: JobSettings, prefix: string): NormalizedSettings {
  if (typeof settings !== 'object' || settings === null) fail(prefix, settings, 'an object');
  const out: NormalizedSettings = {};
  const s = settings as Record<string, unknown>;
  if (s.command !== undefined) out.argv = parseCommand(s.command as string, `${prefix}command`);
  if (s.templates !== undefined) {
    if (!Array.isArray(s.templates)) fail(`${prefix}templates`, s.templates, 'an array');
    out.templates = s.templates.map((t, i) => normalizeTemplate(t, `${prefix}templates[${i}]`));
  }
  if (s.env !== undefined) out.env = stringRecord(s.env, `${prefix}env`, 'env');
  if (s.labels !== undefined) out.labels = stringRecord(s.labels, `${prefix}labels`, 'labels');
  for (const key of ['workingDir', 'user', 'network'] as const) {
    const value = s[key];
    if (value === undefined) continue;
    if (typeof value !== 'string' || value === '') fail(`${prefix}${key}`, value, 'a non-empty string');
    if (key === 'workingDir' && !value.startsWith('/')) fail(`${prefix}${key}`, value, 'an absolute path inside the container');
    out[key] = value;
  }
  if (s.cpus !== undefined) {
    if (typeof s.cpus !== 'number' || !Number.isFinite(s.cpus) || s.cpus <= 0) fail(`${prefix}cpus`, s.cpus, 'a number of cores > 0, like 0.5 or 2');
    out.nanoCpus = Math.round(s.cpus * 1e9);
  }
  if (s.memory !== undefined) out.memoryBytes = parseMemory(s.memory as string, `${prefix}memory`);
  if (s.gpus !== undefined) {
    if (s.gpus !== 'all' && !(typeof s.gpus === 'number' && Number.isInteger(s.gpus) && s.gpus >= 1)) {
      fail(`${prefix}gpus`, s.gpus, "'all' or a whole number >= 1");
    }
    out.gpus = s.gpus;
  }
  if (s.entrypoint !== undefined) out.entrypoint = parseCommand(s.entrypoint as string, `${prefix}entrypoint`);
  if (s.collect !== undefined) {
    if (!Array.isArray(s.collect)) fail(`${prefix}collect`, s.collect, 'an array of absolute container paths');
    out.collect = s.collect.map((entry: unknown, i) => {
      if (typeof entry !== 'string' || !entry.startsWith('/') || path.posix.normalize(entry) === '/') {
        fail(`${prefix}collect[${i}]`, entry, "an absolute container path other than '/'");
      }
      return path.posix.normalize(entry).replace(/\/$/, '');
    });
  }
  if (s.outputMode !== undefined) {
    if (!OUTPUT_MODES.includes(s.outputMode as OutputMode)) fail(`${prefix}outputMode`, s.outputMode, "'auto', 'bind' or 'copy'");
    out.outputMode = s.outputMode as OutputMode;
  }
  for (const key of ['maxLogBytes', 'maxOutputBytes', 'maxOutputEntries'] as const) {
    const value = s[key];
    if (value === undefined) continue;
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) fail(`${prefix}${key}`, value, 'a whole number >= 1');
    out[key] = value;
  }
  return out;
}

/** Settings keys, for spotting misspelled options. */
export function unknownKeys(options: object, allowed: ReadonlySet<string>): string[] {
  return Object.keys(options).filter((key) => !allowed.has(key) && !SETTING_KEYS.has(key));
}

/** Merges the manager's defaults under a job's own settings. */
export function mergeSettings(defaults: NormalizedSettings, own: NormalizedSettings): NormalizedSettings {
  const merged: NormalizedSettings = { ...defaults, ...own };
  if (defaults.env || own.env) merged.env = { ...defaults.env, ...own.env };
  if (defaults.labels || own.labels) merged.labels = { ...defaults.labels, ...own.labels };
  if (defaults.templates || own.templates) merged.templates = [...(defaults.templates ?? []), ...(own.templates ?? [])];
  if (defaults.collect || own.collect) merged.collect = [...new Set([...(defaults.collect ?? []), ...(own.collect ?? [])])];
  return merged;
}
