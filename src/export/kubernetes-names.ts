import { createHash } from 'node:crypto';
import { ValidationError } from '../errors/validation-error.js';

/** RFC 1123 label: what Kubernetes requires of namespace, container, volume and most object names. */
export const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
/** RFC 1123 subdomain: dot-separated labels, at most 253 characters (ConfigMaps, claims, secrets). */
export const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
/** A label value (or the name part of a label key): at most 63 characters, alphanumeric at both ends. */
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

/** Checks label keys and values as the API server would; a bad one is a `ValidationError` naming it. */
export function checkLabels(labels: Readonly<Record<string, string>>, field: string): void {
  for (const [key, value] of Object.entries(labels)) {
    const slash = key.lastIndexOf('/');
    const prefix = slash === -1 ? undefined : key.slice(0, slash);
    const keyName = key.slice(slash + 1);
    if ((prefix !== undefined && (prefix.length > 253 || !DNS_SUBDOMAIN.test(prefix))) || keyName === '' || keyName.length > 63 || !LABEL_VALUE.test(keyName)) {
      throw new ValidationError(`${field}.${key}`, key, `\`${field}\` key '${key}' is not a Kubernetes label key: an optional DNS prefix and '/', then at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit.`);
    }
    if (value.length > 63 || !LABEL_VALUE.test(value)) {
      throw new ValidationError(`${field}.${key}`, value, `\`${field}.${key}\` value '${value}' is not a Kubernetes label value: at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit (or empty).`);
    }
  }
}

/**
 * A job name as a label value: kept when valid, else cut and suffixed with a short hash of the name, so two
 * jobs never share a value. The job's real name is in an annotation and in the job's folder.
 */
export function labelValue(text: string): string {
  if (text.length <= 63 && LABEL_VALUE.test(text)) return text;
  const hash = createHash('sha256').update(text).digest('hex').slice(0, 8);
  const slug = text.replace(/[^-A-Za-z0-9_.]/g, '-').slice(0, 54).replace(/^[^A-Za-z0-9]+|[^A-Za-z0-9]+$/g, '');
  return slug === '' ? hash : `${slug}-${hash}`;
}

/**
 * A word of a container's command, args or env value, escaped so that it arrives unchanged: Kubernetes expands
 * `$(VAR)` there and turns `$$` into `$`, so every `$` before a `$` or `(` is doubled.
 */
export function literal(word: string): string {
  return word.replace(/\$(?=[$(])/g, '$$$$');
}
