import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

/**
 * One entry of `auths` in a Docker `config.json`.
 *
 * @example
 * ```ts
 * const entry: DockerConfigAuthEntry = { auth: Buffer.from('user:password').toString('base64') };
 * ```
 */
export interface DockerConfigAuthEntry {
  /** base64 of `username:password`. */
  auth?: string;
  username?: string;
  password?: string;
  identitytoken?: string;
}

/**
 * The parts of a Docker `config.json` (or of `DOCKER_AUTH_CONFIG`) that concern registry credentials.
 *
 * @example
 * ```ts
 * const config: DockerConfig = { credHelpers: { 'ghcr.io': 'pass' }, credsStore: 'desktop', auths: {} };
 * ```
 */
export interface DockerConfig {
  auths?: Record<string, DockerConfigAuthEntry>;
  credsStore?: string;
  credHelpers?: Record<string, string>;
}

/**
 * Options of {@link loadDockerConfig}.
 *
 * @example
 * ```ts
 * const options: LoadDockerConfigOptions = { env: process.env, onDebug: () => undefined };
 * ```
 */
export interface LoadDockerConfigOptions {
  env: NodeJS.ProcessEnv;
  /** Folder holding `config.json`; defaults to `$DOCKER_CONFIG`, then `~/.docker`. */
  configDir?: string;
  onDebug: (message: string) => void;
}

/**
 * Reads the Docker client configuration as the docker CLI does: `DOCKER_AUTH_CONFIG` (JSON of the same shape
 * as `config.json`) when set and valid, else `config.json` in `configDir`, `$DOCKER_CONFIG` or `~/.docker`.
 * Answers `undefined` when there is none or it cannot be read; the reason goes to `onDebug` (never the file's
 * or variable's content).
 *
 * @example
 * ```ts
 * const loaded = await loadDockerConfig({ env: process.env, onDebug: console.debug });
 * console.log(loaded?.source, Object.keys(loaded?.config.auths ?? {}));
 * ```
 */
export async function loadDockerConfig(
  options: LoadDockerConfigOptions,
): Promise<{ config: DockerConfig; source: string } | undefined> {
  const fromEnv = options.env.DOCKER_AUTH_CONFIG;
  if (fromEnv !== undefined && fromEnv.trim() !== '') {
    const config = parseConfig(fromEnv);
    if (config) return { config, source: 'DOCKER_AUTH_CONFIG' };
    options.onDebug('DOCKER_AUTH_CONFIG is set but is not a JSON object; ignoring it and reading the config file.');
  }
  const dir = options.configDir ?? nonEmpty(options.env.DOCKER_CONFIG) ?? path.join(os.homedir(), '.docker');
  const file = path.join(dir, 'config.json');
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'unknown error';
    options.onDebug(`No Docker config read from ${file} (${code}).`);
    return undefined;
  }
  const config = parseConfig(text);
  if (config) return { config, source: file };
  options.onDebug(`${file} is not a JSON object; ignoring it. Fix it or run \`docker login\` again.`);
  return undefined;
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}

function parseConfig(text: string): DockerConfig | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const raw = value as Record<string, unknown>;
  const config: DockerConfig = {};
  if (isRecord(raw.auths)) {
    config.auths = {};
    for (const [key, entry] of Object.entries(raw.auths)) if (isRecord(entry)) config.auths[key] = pickStrings(entry);
  }
  if (typeof raw.credsStore === 'string' && raw.credsStore !== '') config.credsStore = raw.credsStore;
  if (isRecord(raw.credHelpers)) {
    config.credHelpers = {};
    for (const [key, helper] of Object.entries(raw.credHelpers)) if (typeof helper === 'string' && helper !== '') config.credHelpers[key] = helper;
  }
  return config;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function pickStrings(entry: Record<string, unknown>): DockerConfigAuthEntry {
  const picked: DockerConfigAuthEntry = {};
  for (const key of ['auth', 'username', 'password', 'identitytoken'] as const) {
    const value = entry[key];
    if (typeof value === 'string' && value !== '') picked[key] = value;
  }
  return picked;
}
