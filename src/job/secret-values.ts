/** Env names whose values are treated as secrets wherever a job's output is quoted. */
export const SECRET_NAME = /pass|secret|token|key|credential|auth|cookie|session/i;

/** The values of a job's env whose names look secret (at least 4 characters): masked as `***` when output is quoted. */
export function secretValues(env: Readonly<Record<string, string>> | undefined): string[] {
  return Object.entries(env ?? {})
    .filter(([name, value]) => SECRET_NAME.test(name) && value.length >= 4)
    .map(([, value]) => value);
}

/** `text` with every secret value replaced by `***`. */
export function maskSecrets(text: string, secrets: readonly string[]): string {
  let masked = text;
  for (const secret of secrets) masked = masked.split(secret).join('***');
  return masked;
}
