/**
 * Why Podman could not start a container's process, when the reason is the job's own: Podman answers the start
 * with HTTP 500 and leaves the container 'created', where Docker records the reason and an exit code in the
 * container's state. The exit codes are the ones `podman run` gives: 127 for a command that does not exist, 126
 * for one that cannot run, a user or group the image lacks, or a working directory that cannot be entered.
 * Anything else (storage, networking, the OCI runtime itself) is the engine's failure: undefined.
 */
export function podmanStartRefusal(message: string): { exitCode: number; reason: string } | undefined {
  if (/command that was not found|executable file not found|exec: "[^"]*": stat [^:]*: no such file or directory/i.test(message)) {
    return { exitCode: 127, reason: message };
  }
  if (/unable to find (user|group)|unable to setup user|chdir to cwd|exec: "[^"]*": permission denied|OCI permission denied/i.test(message)) {
    return { exitCode: 126, reason: message };
  }
  return undefined;
}
