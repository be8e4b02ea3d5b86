/**
 * The engine created a container or exec but could not start its process: a user the image lacks, an
 * entrypoint or working directory that does not exist. That is the job's own fault, with the exit code the
 * Docker CLI gives it (126 cannot run, 127 not found, 128 other), never an engine error to retry. Thrown by
 * `ContainerRuntime.start`; backends turn it into the job's failure.
 */
export class ProcessNotStartedError extends Error {
  override readonly name = 'ProcessNotStartedError';

  constructor(
    readonly exitCode: number,
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(reason, options);
  }
}
