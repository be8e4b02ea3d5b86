import type { DockerSimManagerEvents } from '../events/docker-sim-manager-events.js';
import type { JobResult } from '../job/job-result.js';

/** One line of `dsim run --json`: `event` and `time` always, then the event's own fields (documented, stable). */
export type JsonEvent = { event: string; time: string } & Record<string, unknown>;

function resultFields(result: JobResult): Record<string, unknown> {
  return {
    status: result.status,
    exitCode: result.exitCode,
    attempts: result.attempts,
    durationMs: result.durationMs,
    outputDir: result.outputDir,
    ...(result.error ? { error: { code: result.error.code, message: result.error.message } } : {}),
  };
}

type Payload<E extends keyof DockerSimManagerEvents> = Parameters<DockerSimManagerEvents[E]>[0];

/** The plain fields of each event: names of jobs instead of objects, errors as { code, message }. */
const FIELDS: { [E in keyof DockerSimManagerEvents]: (payload: Payload<E>) => Record<string, unknown> } = {
  'run:started': (p) => ({ runId: p.runId, jobs: p.total }),
  'image:pull-progress': (p) => ({ image: p.image, status: p.status, layer: p.layer, current: p.current, total: p.total }),
  'image:ready': (p) => ({ image: p.image, id: p.id, digest: p.digest, wasPulled: p.wasPulled }),
  'job:queued': (p) => ({ job: p.job.name }),
  'job:started': (p) => ({ job: p.job.name, attempt: p.attempt, containerId: p.containerId }),
  'job:stalled': (p) => ({ job: p.job.name, attempt: p.attempt, silentMs: p.silentMs }),
  'job:retrying': (p) => ({ job: p.job.name, attempt: p.attempt, delayMs: p.delayMs, limits: p.limits, error: { code: p.error.code, message: p.error.message } }),
  'job:skipped': (p) => ({ job: p.job.name }),
  'job:log': (p) => ({ job: p.job.name, stream: p.stream, line: p.line }),
  'job:log-truncated': (p) => ({ job: p.job.name, limitBytes: p.limitBytes }),
  'job:output-skipped': (p) => ({ job: p.job.name, entries: p.entries }),
  'job:succeeded': (p) => ({ job: p.job.name, ...resultFields(p.result) }),
  'job:failed': (p) => ({ job: p.job.name, ...resultFields(p.result) }),
  'job:cancelled': (p) => ({ job: p.job.name, ...resultFields(p.result) }),
  'run:cancelling': (p) => ({ reason: p.reason }),
  'run:orphans-removed': (p) => ({ containers: p.containers.map((c) => c.name) }),
  'run:finished': (p) => ({
    runId: p.summary.runId,
    total: p.summary.total,
    succeeded: p.summary.succeeded,
    failed: p.summary.failed,
    cancelled: p.summary.cancelled,
    skipped: p.summary.skipped,
    stopReason: p.summary.stopReason,
    durationMs: p.summary.durationMs,
    withoutOutput: p.summary.withoutOutput,
  }),
  'run:warning': (p) => ({ message: p.message }),
  'listener:error': (p) => ({ listenerEvent: p.event, message: (p.error as Error)?.message ?? String(p.error) }),
};

export const JSON_EVENT_NAMES = Object.keys(FIELDS) as Array<keyof DockerSimManagerEvents>;

/** The JSON line of one event. */
export function toJsonEvent<E extends keyof DockerSimManagerEvents>(event: E, payload: Payload<E>): JsonEvent {
  const fields = (FIELDS[event] as (p: Payload<E>) => Record<string, unknown>)(payload);
  return { event, time: new Date().toISOString(), ...Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined)) };
}
