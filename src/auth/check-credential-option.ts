import { ValidationError, describeValue } from '../errors/validation-error.js';

/**
 * What a refused secret is shown as, in messages and in `ValidationError.value`.
 *
 * @example
 * ```ts
 * throw new ValidationError('password', HIDDEN, `Expected \`password\` to be a non-empty string, got ${HIDDEN}.`);
 * ```
 */
export const HIDDEN = '(hidden)';

/**
 * Checks an option of an authenticator (`username`, `token`...): a non-empty string, or absent unless
 * `isRequired`. A secret's value never reaches the message or the error (it shows as `(hidden)`).
 *
 * @throws {ValidationError} naming the option and how to fix it.
 * @example
 * ```ts
 * checkCredentialOption('token', options.token, { isSecret: true });
 * ```
 */
export function checkCredentialOption(
  field: string,
  value: unknown,
  options: { isSecret: boolean; isRequired?: false },
): asserts value is string | undefined {
  if (value !== undefined) checkRequiredCredentialOption(field, value, { ...options, isRequired: false });
}

/**
 * Like {@link checkCredentialOption} for an option that must be given.
 *
 * @throws {ValidationError} naming the option and how to fix it.
 * @example
 * ```ts
 * checkRequiredCredentialOption('password', options.password, { isSecret: true });
 * ```
 */
export function checkRequiredCredentialOption(
  field: string,
  value: unknown,
  options: { isSecret: boolean; isRequired?: boolean },
): asserts value is string {
  if (typeof value === 'string' && value !== '') return;
  const shown = options.isSecret ? `${HIDDEN} (${value === '' ? 'an empty string' : typeof value})` : describeValue(value);
  throw new ValidationError(
    field,
    options.isSecret ? HIDDEN : value,
    `Expected \`${field}\` to be a non-empty string${options.isRequired === false ? ' or left out' : ''}, got ${shown}.`,
  );
}

/**
 * The first non-empty value among environment variables, in order.
 *
 * @example
 * ```ts
 * firstEnvValue(process.env, ['GITHUB_PAT', 'CR_PAT', 'GITHUB_TOKEN']);
 * ```
 */
export function firstEnvValue(env: NodeJS.ProcessEnv, names: readonly string[]): string | undefined {
  for (const name of names) {
    const value = env[name];
    if (value !== undefined && value !== '') return value;
  }
  return undefined;
}
