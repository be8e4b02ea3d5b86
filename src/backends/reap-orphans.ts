import type { ContainerRuntime, ContainerSummary } from '../runtime/container-runtime.js';
import type { OpenRunOptions } from './backend.js';
import { LABELS } from '../runtime/labels.js';
import { isOwnerGone } from '../runtime/owner.js';

/** What an orphan sweep did. */
export interface ReapResult {
  /** Containers removed because the process that made them is gone. */
  removed: ContainerSummary[];
  /** Containers of this package left alone: their owner is alive, or on another host (it cannot be judged from here). */
  kept: ContainerSummary[];
}

/** Removes the package's containers whose owner process on this host is gone. */
export async function reapOrphanContainers(runtime: ContainerRuntime): Promise<ReapResult> {
  const containers = await runtime.listContainers({ [LABELS.ownerPid]: undefined });
  const result: ReapResult = { removed: [], kept: [] };
  await Promise.all(
    containers.map(async (container) => {
      if (!isOwnerGone(container.labels)) {
        result.kept.push(container);
        return;
      }
      await runtime.remove(container.id);
      result.removed.push(container);
    }),
  );
  return result;
}

/** Removes every container of a run at once (running or not). */
export async function removeRunContainers(runtime: ContainerRuntime, runId: string): Promise<void> {
  const containers = await runtime.listContainers({ [LABELS.run]: runId });
  await Promise.all(containers.map((container) => runtime.remove(container.id)));
}

/**
 * Whatever container of a run is still on its engines at the end (a removal that failed while the engine was
 * away) goes now; a failure is reported with the command that removes them by hand.
 */
export async function removeLeftoverContainers(run: Pick<OpenRunOptions, 'engines' | 'runId' | 'onWarning'>): Promise<void> {
  const { runId, onWarning } = run;
  await Promise.all(
    run.engines.map(({ runtime }) =>
      removeRunContainers(runtime, runId).catch((error: unknown) =>
        onWarning(`Containers of run ${runId} could not be removed: ${(error as Error).message}. Remove them with: docker rm -f $(docker ps -aq --filter label=${LABELS.run}=${runId})`, error),
      ),
    ),
  );
}
