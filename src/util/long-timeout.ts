/** The longest delay Node's setTimeout honours (2^31 - 1 ms, about 24.8 days); longer ones fire after 1 ms. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** A timer that can wait longer than 24.8 days (it re-arms itself in steps). */
export interface LongTimeout {
  clear(): void;
}

/** Calls `callback` after `ms`, however long that is. */
export function setLongTimeout(callback: () => void, ms: number): LongTimeout {
  const due = Date.now() + ms;
  let timer: NodeJS.Timeout | undefined;
  const arm = (): void => {
    const left = due - Date.now();
    if (left > MAX_TIMER_MS) timer = setTimeout(arm, MAX_TIMER_MS);
    else timer = setTimeout(callback, Math.max(0, left));
  };
  arm();
  return { clear: () => clearTimeout(timer) };
}
