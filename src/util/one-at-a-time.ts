/**
 * A gate that runs the tasks given to it one at a time, in the order given: each starts when the one before it
 * settled, whether it resolved or rejected. Each call resolves or rejects as its own task does.
 */
export function oneAtATime(): <T>(task: () => Promise<T>) => Promise<T> {
  let tail: Promise<unknown> = Promise.resolve();
  return <T>(task: () => Promise<T>): Promise<T> => {
    const run = tail.then(task);
    tail = run.catch(() => undefined);
    return run;
  };
}
