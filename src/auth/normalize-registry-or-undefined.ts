import { normalizeRegistry } from './registry-of.js';

/**
 * `normalizeRegistry()` that answers `undefined` instead of throwing, for `supports()` checks.
 *
 * @example
 * ```ts
 * normalizeRegistryOrUndefined('index.docker.io'); // 'docker.io'
 * normalizeRegistryOrUndefined('');                // undefined
 * ```
 */
export function normalizeRegistryOrUndefined(registry: unknown): string | undefined {
  try {
    return normalizeRegistry(registry as string);
  } catch {
    return undefined;
  }
}
