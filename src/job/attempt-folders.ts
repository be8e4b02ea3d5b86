import { mkdir, readdir, rename } from 'node:fs/promises';
import path from 'node:path';

const ATTEMPT_FOLDER = /^\.attempt-(\d+)$/;

/**
 * Moves whatever an earlier attempt left in a job folder into `.attempt-<n>/` (n one above the highest there),
 * so the next attempt starts with an empty folder and nothing is ever deleted. Resolves with the folder used,
 * or undefined when there was nothing to move.
 */
export async function setAsideAttempt(outputDir: string): Promise<string | undefined> {
  const entries = await readdir(outputDir).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return [];
    throw error;
  });
  const numbers = entries.map((name) => ATTEMPT_FOLDER.exec(name)?.[1]).filter((n): n is string => n !== undefined).map(Number);
  const toMove = entries.filter((name) => !ATTEMPT_FOLDER.test(name));
  if (toMove.length === 0) return undefined;
  const target = path.join(outputDir, `.attempt-${Math.max(0, ...numbers) + 1}`);
  await mkdir(target);
  for (const name of toMove) await rename(path.join(outputDir, name), path.join(target, name));
  return target;
}

/**
 * Whether a job folder holds anything besides `ignored` names and set-aside attempts: a job that succeeded with
 * nothing there most likely wrote its results elsewhere in the container.
 */
export async function holdsOutputs(outputDir: string, ignored: ReadonlySet<string>): Promise<boolean> {
  const entries = await readdir(outputDir).catch(() => [] as string[]);
  return entries.some((name) => !ignored.has(name) && !ATTEMPT_FOLDER.test(name));
}
