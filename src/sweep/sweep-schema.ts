import { z } from 'zod';

/** A parameter value: what can be put into a job's name, command, env and in-memory templates. */
const scalar = z.union([z.string(), z.number(), z.boolean()], { error: 'expected a string, number or boolean' });

const DURATION_HINT = "expected a duration with a unit, like '90s', '30m', '2h' or '1500ms'";

/**
 * `'30m'`, `'2h'`, `'45s'`, `'1500ms'`, `'1d'`: always with a unit. A bare number is refused with the fix, since
 * `timeout: 30` reads as seconds to people and as milliseconds to the library.
 */
const duration = z
  .string({
    error: (issue) =>
      typeof issue.input === 'number'
        ? `a bare number is not a duration: write '${issue.input}s' for ${issue.input} seconds (or '${issue.input}m', '${issue.input}ms')`
        : DURATION_HINT,
  })
  .regex(/^\s*\d+(\.\d+)?\s*(ms|s|m|h|d)\s*$/, DURATION_HINT);

const commandLike = z.union([z.string(), z.array(z.string())], { error: 'expected a string or a list of strings' });

const template = z.union([
  z.string().min(1),
  z.strictObject({ source: z.string().min(1), target: z.string().optional() }),
  z.strictObject({ content: z.string(), target: z.string(), mode: z.number().int().optional() }),
], { error: "expected a path, { source, target? } or { content, target, mode? }" });

const retryReason = z.enum(['exit-code', 'oom', 'timeout', 'stalled', 'engine-error']);

/** The sweep file: the manager's and jobs' options under the same names, plus the parameters and placeholders. */
export const sweepSchema = z.strictObject({
  image: z.string().min(1),
  tag: z.string().optional(),
  pullPolicy: z.enum(['always', 'missing', 'never']).optional(),
  maxWorkers: z.number().int().min(1).optional(),
  dataDirectory: z.string().min(1).optional(),
  mountPath: z.string().optional(),
  stopGracePeriod: duration.optional(),
  pinDigest: z.boolean().optional(),
  failFast: z.boolean().optional(),
  maxFailures: z.number().int().min(1).optional(),
  executionMode: z.enum(['container', 'pool']).optional(),
  recycleAfter: z.number().int().min(1).optional(),
  backend: z.enum(['engine', 'swarm', 'slurm']).optional(),
  slurm: z
    .strictObject({
      partition: z.string().min(1).optional(),
      account: z.string().min(1).optional(),
      qos: z.string().min(1).optional(),
      sbatchArgs: z.array(z.string()).optional(),
      nodeEngine: z.enum(['docker', 'podman']).optional(),
      engineCommand: z.array(z.string()).min(1).optional(),
    })
    .optional(),
  /** Where `dsim export` puts the sweep on a cluster (see ClusterOptions); a local run does not read it. */
  kubernetes: z
    .strictObject({
      volumeClaim: z.string().min(1),
      name: z.string().min(1).optional(),
      namespace: z.string().min(1).optional(),
      serviceAccount: z.string().min(1).optional(),
      imagePullSecrets: z.array(z.string().min(1)).optional(),
      nodeSelector: z.record(z.string(), z.string()).optional(),
      tolerations: z
        .array(
          z.strictObject({
            key: z.string().optional(),
            operator: z.enum(['Exists', 'Equal']).optional(),
            value: z.string().optional(),
            effect: z.enum(['NoSchedule', 'PreferNoSchedule', 'NoExecute']).optional(),
            tolerationSeconds: z.number().int().optional(),
          }),
        )
        .optional(),
      labels: z.record(z.string(), z.string()).optional(),
      envFromSecrets: z.array(z.string().min(1)).optional(),
      ttlSecondsAfterFinished: z.number().int().min(0).optional(),
      shell: z.boolean().optional(),
    })
    .optional(),
  auth: z
    .union([
      z.enum(['docker-config', 'ghcr', 'dockerhub']),
      z.strictObject({ registry: z.string().min(1), usernameEnv: z.string().min(1), passwordEnv: z.string().min(1) }),
    ])
    .optional(),

  name: z.string().min(1).optional(),
  command: commandLike.optional(),
  entrypoint: commandLike.optional(),
  parameters: z
    .strictObject({
      grid: z.record(z.string(), z.array(scalar).min(1)).optional(),
      zip: z.record(z.string(), z.array(scalar).min(1)).optional(),
      list: z.array(z.record(z.string(), scalar)).min(1).optional(),
    })
    .optional(),
  templates: z.array(template).optional(),
  env: z.record(z.string(), scalar).optional(),
  workingDir: z.string().optional(),
  user: z.string().optional(),
  labels: z.record(z.string(), z.string()).optional(),
  cpus: z.number().positive().optional(),
  memory: z.union([z.string(), z.number()]).optional(),
  gpus: z.union([z.literal('all'), z.number().int().min(1)]).optional(),
  network: z.string().optional(),
  collect: z.array(z.string()).optional(),
  outputMode: z.enum(['auto', 'bind', 'copy']).optional(),
  maxLogBytes: z.number().int().min(1).optional(),
  maxOutputBytes: z.number().int().min(1).optional(),
  maxOutputEntries: z.number().int().min(1).optional(),
  timeout: duration.optional(),
  inactivityTimeout: duration.optional(),
  retries: z.number().int().min(0).max(100).optional(),
  /** Factors (>= 1) that multiply `memory`, `cpus` and `timeout` on each retry: attempt n gets the value times factor^(n-1). */
  growOnRetry: z
    .strictObject({
      memory: z.number().min(1).optional(),
      cpus: z.number().min(1).optional(),
      timeout: z.number().min(1).optional(),
    })
    .optional(),
  retryOn: z.union([retryReason, z.array(retryReason)]).optional(),
  backoff: z
    .strictObject({
      initialDelay: duration.optional(),
      factor: z.number().min(1).optional(),
      maxDelay: duration.optional(),
      jitter: z.number().min(0).max(1).optional(),
    })
    .optional(),
  security: z.enum(['default', 'strict']).optional(),
  readOnlyRootfs: z.boolean().optional(),
  tmpfs: z.array(z.string()).optional(),
  capDrop: z.array(z.string()).optional(),
  capAdd: z.array(z.string()).optional(),
  noNewPrivileges: z.boolean().optional(),
  pidsLimit: z.number().int().min(1).optional(),
  init: z.boolean().optional(),
});

/** The keys an object of the sweep file takes at `path` (for suggestions when one is misspelt). */
export function sweepKeysAt(path: ReadonlyArray<PropertyKey>): string[] {
  const unwrap = (schema: unknown): { shape?: Record<string, unknown>; unwrap?: () => unknown } | undefined => {
    let current = schema as { shape?: Record<string, unknown>; unwrap?: () => unknown } | undefined;
    while (current && !current.shape && typeof current.unwrap === 'function') current = current.unwrap() as typeof current;
    return current;
  };
  let schema = unwrap(sweepSchema);
  for (const part of path) schema = unwrap(schema?.shape?.[String(part)]);
  return schema?.shape ? Object.keys(schema.shape) : [];
}

/** A sweep file after schema validation. */
export type SweepSpec = z.infer<typeof sweepSchema>;

/** A parameter value. */
export type ParameterValue = z.infer<typeof scalar>;

/** Milliseconds of a duration as the sweep file writes it. */
export function durationMs(value: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$/.exec(value);
  const units = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
  return Math.round(Number(match?.[1]) * units[(match?.[2] ?? 'ms') as keyof typeof units]);
}
