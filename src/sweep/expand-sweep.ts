import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { closestName } from '../util/closest-name.js';
import { ValidationError, describeValue } from '../errors/validation-error.js';
import { isDockerSimError } from '../errors/docker-sim-error.js';
import { SimJob, type SimJobOptions } from '../job/sim-job.js';
import type { JobSettings, PerAttempt, TemplateSpec } from '../job/job-settings.js';
import { parseMemory } from '../util/parse-memory.js';
import { parseCommand } from '../util/parse-command.js';
import type { DockerSimManagerOptions } from '../manager/docker-sim-manager-options.js';
import type { RegistryAuthenticator } from '../auth/registry-authenticator.js';
import { DockerConfigAuthenticator } from '../auth/docker-config-authenticator.js';
import { GhcrAuthenticator } from '../auth/ghcr-authenticator.js';
import { DockerHubAuthenticator } from '../auth/docker-hub-authenticator.js';
import { CustomRegistryAuthenticator } from '../auth/custom-registry-authenticator.js';
import { durationMs, sweepKeysAt, sweepSchema, type ParameterValue, type SweepSpec } from './sweep-schema.js';

/** One row of parameters: the values one job gets. */
export type ParameterRow = Record<string, ParameterValue>;

/** Where relative paths of a sweep are resolved: the folder of the sweep file. */
export interface SweepContext {
  /** @default process.cwd() */
  baseDir?: string;
}

/** `parameters.grid.seed[2]` from a schema issue's path. */
function fieldOf(pathParts: ReadonlyArray<PropertyKey>): string {
  return pathParts.reduce<string>((field, part) => (typeof part === 'number' ? `${field}[${part}]` : field ? `${field}.${String(part)}` : String(part)), '');
}

/** ` (did you mean 'maxWorkers'?)` for a misspelt key, or the library's name of a sweep key. */
function suggestKey(key: string, valid: readonly string[]): string {
  const nearest = closestName(key, valid);
  return nearest === undefined ? '' : ` (did you mean '${nearest}'?)`;
}

function schemaError(issues: readonly z.core.$ZodIssue[], value: unknown): ValidationError {
  const lines = issues.map((issue) => {
    const message =
      issue.code === 'unrecognized_keys'
        ? issue.keys.map((key) => `unknown key '${key}'${suggestKey(key, sweepKeysAt(issue.path))}`).join('; ')
        : issue.message.replace(/^Invalid input: /, '');
    return `${fieldOf(issue.path) || '(top level)'}: ${message}`;
  });
  const first = issues[0];
  let bad: unknown = value;
  for (const part of first?.path ?? []) bad = (bad as Record<PropertyKey, unknown> | undefined)?.[part as string];
  return new ValidationError(fieldOf(first?.path ?? []) || 'sweep', bad, `Invalid sweep file:\n  ${lines.join('\n  ')}`);
}

/**
 * Validates a sweep (the parsed YAML or JSON) against the schema. An invalid sweep is a `ValidationError`
 * whose `field` is the path of the first bad value, e.g. `parameters.grid.seed[2]`, and whose message lists
 * every problem.
 */
export function parseSweep(value: unknown): SweepSpec {
  const parsed = sweepSchema.safeParse(value);
  if (!parsed.success) throw schemaError(parsed.error.issues, value);
  return parsed.data;
}

function product(sets: ParameterRow[][]): ParameterRow[] {
  return sets.reduce<ParameterRow[]>((rows, set) => rows.flatMap((row) => set.map((next) => ({ ...row, ...next }))), [{}]);
}

/** The parameter rows of a sweep: the cartesian product of its `grid`, its `zip` rows and its `list` rows. */
export function parameterRows(spec: Pick<SweepSpec, 'parameters'>): ParameterRow[] {
  const { grid, zip, list } = spec.parameters ?? {};
  const seen = new Map<string, string>();
  const claim = (name: string, section: string): void => {
    const earlier = seen.get(name);
    if (earlier !== undefined) throw new ValidationError(`parameters.${section}.${name}`, name, `Parameter '${name}' is given in parameters.${earlier} and parameters.${section}; each parameter may appear once.`);
    seen.set(name, section);
  };
  const sets: ParameterRow[][] = [];
  if (grid) {
    for (const [name, values] of Object.entries(grid)) {
      claim(name, 'grid');
      sets.push(values.map((v) => ({ [name]: v })));
    }
  }
  if (zip) {
    const entries = Object.entries(zip);
    const [firstName, firstValues] = entries[0] ?? ['', []];
    for (const [name, values] of entries) {
      claim(name, 'zip');
      if (values.length !== firstValues.length) {
        throw new ValidationError(`parameters.zip.${name}`, values, `parameters.zip lists must have equal lengths: '${firstName}' has ${firstValues.length} values, '${name}' has ${values.length}.`);
      }
    }
    if (entries.length > 0) sets.push(firstValues.map((_, i) => Object.fromEntries(entries.map(([name, values]) => [name, values[i] as ParameterValue]))));
  }
  if (list) {
    for (const name of new Set(list.flatMap((row) => Object.keys(row)))) claim(name, 'list');
    sets.push(list);
  }
  return product(sets);
}

const PLACEHOLDER = /\{\{|\}\}|\{([^{}]*)\}/g;

/** Fills `{name}` placeholders from a row (`{{` and `}}` are literal braces); an unknown name is an error. */
function fill(text: string, row: ParameterRow, field: string): string {
  return text.replace(PLACEHOLDER, (match, name: string | undefined) => {
    if (match === '{{') return '{';
    if (match === '}}') return '}';
    const key = (name ?? '').trim();
    if (!(key in row)) {
      const known = Object.keys(row).join(', ');
      throw new ValidationError(field, text, `${field}: placeholder {${key}} names no parameter (parameters: ${known}). Write {{ and }} for literal braces.`);
    }
    return String(row[key]);
  });
}

function fillArgv(value: string | readonly string[], row: ParameterRow, field: string): string[] {
  // Split first, then fill each argument: a value with spaces stays one argument.
  return parseCommand(value, field).map((arg, i) => fill(arg, row, `${field}[${i}]`));
}

function fillTemplate(template: NonNullable<SweepSpec['templates']>[number], row: ParameterRow, field: string, baseDir: string): TemplateSpec {
  if (typeof template === 'string') return path.resolve(baseDir, fill(template, row, field));
  if ('content' in template) {
    return { content: fill(template.content, row, `${field}.content`), target: fill(template.target, row, `${field}.target`), ...(template.mode === undefined ? {} : { mode: template.mode }) };
  }
  return { source: path.resolve(baseDir, fill(template.source, row, `${field}.source`)), ...(template.target === undefined ? {} : { target: fill(template.target, row, `${field}.target`) }) };
}

function authenticatorOf(auth: NonNullable<SweepSpec['auth']>): RegistryAuthenticator {
  if (auth === 'docker-config') return new DockerConfigAuthenticator();
  if (auth === 'ghcr') return new GhcrAuthenticator();
  if (auth === 'dockerhub') return new DockerHubAuthenticator();
  const username = process.env[auth.usernameEnv];
  const password = process.env[auth.passwordEnv];
  for (const [key, name, value] of [['usernameEnv', auth.usernameEnv, username], ['passwordEnv', auth.passwordEnv, password]] as const) {
    if (!value) throw new ValidationError(`auth.${key}`, name, `auth.${key}: the environment variable ${name} is not set; export it before running the sweep.`);
  }
  return new CustomRegistryAuthenticator({ registry: auth.registry, username: username ?? '', password: password ?? '' });
}

/** A limit that grows by `factor` with each retry (attempt n gets base * factor^(n-1)), or the value as it is. */
function grown(base: number, factor: number | undefined, round: (value: number) => number = (value) => value): PerAttempt<number> {
  if (factor === undefined || factor === 1) return base;
  return ({ attempt }) => round(base * factor ** (attempt - 1));
}

/** `growOnRetry` grows limits the sweep sets: one it does not set has nothing to grow. */
function checkGrowOnRetry(spec: SweepSpec): void {
  for (const [key, limit] of [['memory', spec.memory], ['cpus', spec.cpus], ['timeout', spec.timeout]] as const) {
    if (spec.growOnRetry?.[key] !== undefined && limit === undefined) {
      throw new ValidationError(`growOnRetry.${key}`, spec.growOnRetry[key], `growOnRetry.${key} multiplies \`${key}\` on each retry, but the sweep sets no \`${key}\`. Set one (it is the first attempt's), or remove growOnRetry.${key}.`);
    }
  }
}

/** The settings every job of the sweep shares, as the manager's `defaults`. */
function sharedSettings(spec: SweepSpec): JobSettings {
  checkGrowOnRetry(spec);
  const settings: JobSettings = {
    ...(spec.workingDir === undefined ? {} : { workingDir: spec.workingDir }),
    ...(spec.user === undefined ? {} : { user: spec.user }),
    ...(spec.labels === undefined ? {} : { labels: spec.labels }),
    ...(spec.cpus === undefined ? {} : { cpus: grown(spec.cpus, spec.growOnRetry?.cpus) }),
    ...(spec.memory === undefined ? {} : { memory: grown(parseMemory(spec.memory, 'memory'), spec.growOnRetry?.memory, Math.round) }),
    ...(spec.gpus === undefined ? {} : { gpus: spec.gpus }),
    ...(spec.network === undefined ? {} : { network: spec.network }),
    ...(spec.collect === undefined ? {} : { collect: spec.collect }),
    ...(spec.outputMode === undefined ? {} : { outputMode: spec.outputMode }),
    ...(spec.maxLogBytes === undefined ? {} : { maxLogBytes: spec.maxLogBytes }),
    ...(spec.maxOutputBytes === undefined ? {} : { maxOutputBytes: spec.maxOutputBytes }),
    ...(spec.maxOutputEntries === undefined ? {} : { maxOutputEntries: spec.maxOutputEntries }),
    ...(spec.timeout === undefined ? {} : { timeoutMs: grown(durationMs(spec.timeout), spec.growOnRetry?.timeout, Math.round) }),
    ...(spec.inactivityTimeout === undefined ? {} : { inactivityTimeoutMs: durationMs(spec.inactivityTimeout) }),
    ...(spec.retries === undefined ? {} : { retries: spec.retries }),
    ...(spec.retryOn === undefined ? {} : { retryOn: spec.retryOn }),
    ...(spec.security === undefined ? {} : { security: spec.security }),
    ...(spec.readOnlyRootfs === undefined ? {} : { readOnlyRootfs: spec.readOnlyRootfs }),
    ...(spec.tmpfs === undefined ? {} : { tmpfs: spec.tmpfs }),
    ...(spec.capDrop === undefined ? {} : { capDrop: spec.capDrop }),
    ...(spec.capAdd === undefined ? {} : { capAdd: spec.capAdd }),
    ...(spec.noNewPrivileges === undefined ? {} : { noNewPrivileges: spec.noNewPrivileges }),
    ...(spec.pidsLimit === undefined ? {} : { pidsLimit: spec.pidsLimit }),
    ...(spec.init === undefined ? {} : { init: spec.init }),
  };
  if (spec.backoff) {
    const { initialDelay, maxDelay, factor, jitter } = spec.backoff;
    settings.backoff = {
      ...(initialDelay === undefined ? {} : { initialDelayMs: durationMs(initialDelay) }),
      ...(maxDelay === undefined ? {} : { maxDelayMs: durationMs(maxDelay) }),
      ...(factor === undefined ? {} : { factor }),
      ...(jitter === undefined ? {} : { jitter }),
    };
  }
  return settings;
}

/** The manager options a sweep describes (relative paths from `baseDir`); `defaults` holds the shared job settings. */
export function sweepManagerOptions(spec: SweepSpec, context: SweepContext = {}): DockerSimManagerOptions {
  const baseDir = path.resolve(context.baseDir ?? process.cwd());
  return {
    image: spec.image,
    dataDirectory: path.resolve(baseDir, spec.dataDirectory ?? 'out'),
    ...(spec.tag === undefined ? {} : { tag: spec.tag }),
    ...(spec.pullPolicy === undefined ? {} : { pullPolicy: spec.pullPolicy }),
    ...(spec.maxWorkers === undefined ? {} : { maxWorkers: spec.maxWorkers }),
    ...(spec.mountPath === undefined ? {} : { mountPath: spec.mountPath }),
    ...(spec.stopGracePeriod === undefined ? {} : { stopGracePeriodMs: durationMs(spec.stopGracePeriod) }),
    ...(spec.pinDigest === undefined ? {} : { pinDigest: spec.pinDigest }),
    ...(spec.failFast === undefined ? {} : { failFast: spec.failFast }),
    ...(spec.maxFailures === undefined ? {} : { maxFailures: spec.maxFailures }),
    ...(spec.executionMode === undefined ? {} : { executionMode: spec.executionMode }),
    ...(spec.recycleAfter === undefined ? {} : { recycleAfter: spec.recycleAfter }),
    ...(spec.backend === undefined ? {} : { backend: spec.backend }),
    ...(spec.auth === undefined ? {} : { auth: authenticatorOf(spec.auth) }),
    defaults: sharedSettings(spec),
  };
}

/**
 * The jobs of a sweep: one per parameter row, with `{parameter}` placeholders (and `{index}`, 1-based and
 * zero-padded) filled in the name, command, entrypoint, env values and templates. Placeholders that name no
 * parameter and names that repeat are `ValidationError`s.
 *
 * @example
 * ```ts
 * const jobs = expandSweep({ image: 'sim', name: 's{seed}', command: '-r {seed}', parameters: { grid: { seed: [1, 2] } } });
 * console.log(jobs.map((job) => job.name)); // ['s1', 's2']
 * ```
 */
export function expandSweep(spec: SweepSpec, context: SweepContext = {}): SimJob[] {
  const sweep = parseSweep(spec);
  const baseDir = path.resolve(context.baseDir ?? process.cwd());
  const rows = parameterRows(sweep);
  const width = String(rows.length).length;
  const names = new Map<string, number>();
  return rows.map((parameters, i) => {
    const row: ParameterRow = { index: String(i + 1).padStart(width, '0'), ...parameters };
    const name = fill(sweep.name ?? '{index}', row, 'name');
    const earlier = names.get(name);
    if (earlier !== undefined) {
      throw new ValidationError('name', name, `name: '${sweep.name ?? '{index}'}' gives the same job name '${name}' to rows ${earlier + 1} and ${i + 1}; add a parameter that differs (or {index}) to the name.`);
    }
    names.set(name, i);
    const options: SimJobOptions = {
      name,
      parameters,
      ...(sweep.command === undefined ? {} : { command: fillArgv(sweep.command, row, 'command') }),
      ...(sweep.entrypoint === undefined ? {} : { entrypoint: fillArgv(sweep.entrypoint, row, 'entrypoint') }),
      ...(sweep.env === undefined ? {} : { env: Object.fromEntries(Object.entries(sweep.env).map(([key, value]) => [key, fill(String(value), row, `env.${key}`)])) }),
      ...(sweep.templates === undefined ? {} : { templates: sweep.templates.map((t, k) => fillTemplate(t, row, `templates[${k}]`, baseDir)) }),
    };
    try {
      return new SimJob(options);
    } catch (error) {
      if (isDockerSimError(error) && error.code === 'E_VALIDATION') {
        throw new ValidationError((error as ValidationError).field, (error as ValidationError).value, `Job ${i + 1} of the sweep (${describeValue(parameters)}): ${error.message}`, { cause: error });
      }
      throw error;
    }
  });
}

/** A sweep file read, validated and expanded. */
export interface LoadedSweep {
  file: string;
  spec: SweepSpec;
  options: DockerSimManagerOptions;
  jobs: SimJob[];
}

/**
 * Reads a sweep file (YAML, or JSON for `.json`), validates it, and expands it into manager options and jobs.
 * Relative paths in it (dataDirectory, templates) are resolved from the file's folder.
 */
export async function loadSweepFile(file: string): Promise<LoadedSweep> {
  const absolute = path.resolve(file);
  let text: string;
  try {
    text = await readFile(absolute, 'utf8');
  } catch (error) {
    throw new ValidationError('sweep', file, `Cannot read the sweep file ${file}: ${(error as Error).message}`, { cause: error });
  }
  let value: unknown;
  try {
    value = absolute.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
  } catch (error) {
    throw new ValidationError('sweep', file, `The sweep file ${file} is not valid ${absolute.endsWith('.json') ? 'JSON' : 'YAML'}: ${(error as Error).message}`, { cause: error });
  }
  const spec = parseSweep(value);
  const baseDir = path.dirname(absolute);
  return { file: absolute, spec, options: sweepManagerOptions(spec, { baseDir }), jobs: expandSweep(spec, { baseDir }) };
}
