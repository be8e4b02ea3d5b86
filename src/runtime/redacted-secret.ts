import { inspect } from 'node:util';

/**
 * A string that goes on the wire unchanged but prints as `[redacted]` through `util.inspect` and JSON. The
 * engine client logs every request's options (headers included) under `DEBUG=modem`; registry credentials
 * travel in a header, so they are handed over in this form.
 */
export function redactedSecret(value: string): string {
  return Object.assign(new String(value), {
    [inspect.custom]: () => '[redacted]',
    toJSON: () => '[redacted]',
  }) as unknown as string;
}
