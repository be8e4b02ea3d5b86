import { ValidationError, describeValue } from '../errors/validation-error.js';

const UNITS: Record<string, number> = { '': 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };

/** Parses a memory size the way `docker run --memory` does: bytes, or '512m', '2g', '1.5g', '256MiB'. */
export function parseMemory(value: number | string, field: string): number {
  let bytes: number | undefined;
  if (typeof value === 'number') {
    bytes = value;
  } else if (typeof value === 'string') {
    const match = /^\s*(\d+(?:\.\d+)?)\s*([bkmgt]?)(?:i?b)?\s*$/i.exec(value);
    if (match) bytes = Math.floor(Number(match[1]) * (UNITS[(match[2] ?? '').toLowerCase()] ?? 1));
  }
  if (bytes === undefined || !Number.isFinite(bytes) || bytes <= 0 || !Number.isInteger(bytes)) {
    throw new ValidationError(
      field,
      value,
      `Expected \`${field}\` to be a positive whole number of bytes or a size like '512m' or '2g', got ${describeValue(value)}.`,
    );
  }
  if (bytes < 6 * 1024 * 1024) {
    throw new ValidationError(field, value, `\`${field}\` must be at least 6m (the engine's minimum), got ${describeValue(value)}.`);
  }
  return bytes;
}
