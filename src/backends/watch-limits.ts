import type { LogSink } from '../job/log-sink.js';
import { setLongTimeout, type LongTimeout } from '../util/long-timeout.js';

/** The time limits of one attempt. */
export interface AttemptLimits {
  signal: AbortSignal;
  /** Wall-clock limit of the attempt. */
  timeoutMs?: number | undefined;
  /** Longest silence (no stdout or stderr) before the attempt is stopped as stalled. */
  inactivityTimeoutMs?: number | undefined;
  /** Called once when the attempt is found stalled, before it is stopped. */
  onStalled?: ((silentMs: number) => void) | undefined;
}

/** Which limit stopped an attempt, if one did. */
export interface LimitWatch {
  reason: 'timeout' | 'stalled' | undefined;
  clear(): void;
}

/**
 * Stops an attempt when it passes its wall-clock limit or stays silent too long. The silence is measured from
 * the live output stream (the time of the last chunk the sink saw), never by polling the engine.
 */
export function watchLimits(limits: AttemptLimits, stop: () => void, sink: LogSink): LimitWatch {
  const timers: LongTimeout[] = [];
  const watch: LimitWatch = {
    reason: undefined,
    clear: () => timers.forEach((timer) => timer.clear()),
  };
  const stopFor = (reason: 'timeout' | 'stalled'): void => {
    if (watch.reason !== undefined || limits.signal.aborted) return;
    watch.reason = reason;
    watch.clear();
    stop();
  };
  const { timeoutMs, inactivityTimeoutMs } = limits;
  if (timeoutMs !== undefined) timers.push(setLongTimeout(() => stopFor('timeout'), timeoutMs));
  if (inactivityTimeoutMs !== undefined) {
    sink.lastOutputAt = Date.now();
    const check = (): void => {
      const silentMs = Date.now() - sink.lastOutputAt;
      if (silentMs < inactivityTimeoutMs) {
        timers.push(setLongTimeout(check, inactivityTimeoutMs - silentMs));
        return;
      }
      if (watch.reason !== undefined || limits.signal.aborted) return;
      limits.onStalled?.(silentMs);
      stopFor('stalled');
    };
    timers.push(setLongTimeout(check, inactivityTimeoutMs));
  }
  return watch;
}
