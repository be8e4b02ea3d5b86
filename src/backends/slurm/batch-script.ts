import type { ContainerSpec } from '../../runtime/container-runtime.js';
import { shellQuote } from '../../util/shell-quote-word.js';


/** Where an attempt's files are, on the file system the nodes share. */
export interface AttemptFiles {
  stdout: string;
  stderr: string;
  /** Written last by the script: `exit=<client's code> state=<container's code|none> oom=<true|false|unknown> stopped=<0|1>`. */
  status: string;
  envFile: string;
}

/**
 * The engine command line that runs the container exactly as a fresh container would run locally: the image
 * (pinned), the job folder and staged templates bind-mounted, env from a file (values never in the script or a
 * process list), user, working directory, entrypoint and command, limits, hardening and labels.
 */
export function runArgs(spec: ContainerSpec, options: { image: string; containerName: string; envFile: string; extraBinds: ReadonlyArray<{ hostPath: string; containerPath: string }> }): string[] {
  const args = ['run', '--name', options.containerName, '--env-file', options.envFile];
  for (const [key, value] of Object.entries(spec.labels)) args.push('--label', `${key}=${value}`);
  for (const bind of spec.binds) args.push('--volume', `${bind.hostPath}:${bind.containerPath}:${bind.isReadOnly ? 'ro' : 'rw'}`);
  for (const bind of options.extraBinds) args.push('--volume', `${bind.hostPath}:${bind.containerPath}:ro`);
  if (spec.user !== undefined) args.push('--user', spec.user);
  if (spec.workingDir !== undefined) args.push('--workdir', spec.workingDir);
  if (spec.networkMode !== undefined) args.push('--network', spec.networkMode);
  if (spec.nanoCpus !== undefined) args.push('--cpus', String(spec.nanoCpus / 1e9));
  if (spec.memoryBytes !== undefined) args.push('--memory', `${spec.memoryBytes}b`, '--memory-swap', `${spec.memoryBytes}b`);
  if (spec.gpus !== undefined) args.push('--gpus', spec.gpus === 'all' ? 'all' : String(spec.gpus));
  if (spec.init) args.push('--init');
  if (spec.readOnlyRootfs) args.push('--read-only');
  for (const cap of spec.capDrop ?? []) args.push('--cap-drop', cap);
  for (const cap of spec.capAdd ?? []) args.push('--cap-add', cap);
  if (spec.noNewPrivileges) args.push('--security-opt', 'no-new-privileges');
  if (spec.pidsLimit !== undefined) args.push('--pids-limit', String(spec.pidsLimit));
  for (const target of spec.tmpfs ?? []) args.push('--tmpfs', `${target}:rw,nosuid,nodev,mode=1777`);
  // The CLI's --entrypoint takes one word: the rest of an entrypoint list goes before the command.
  const [entry, ...entryRest] = spec.entrypoint ?? [];
  if (spec.entrypoint !== undefined) args.push('--entrypoint', entry ?? '');
  args.push(options.image, ...entryRest, ...(spec.cmd ?? []));
  return args;
}

/** The `docker --env-file` text of an env; values with a line break cannot be written there (checked before). */
export function envFileText(env: Record<string, string>): string {
  return Object.entries(env)
    .map(([key, value]) => `${key}=${value}\n`)
    .join('');
}

/**
 * The batch script of one attempt. It runs the container in the background with its output in the attempt's
 * files, stops it (the engine's stop: SIGTERM, then SIGKILL after the grace period) when Slurm signals the script
 * (cancellation, the time limit), records the exit code and the engine's OOM flag, removes the container, and
 * writes the status file last (so a status file is always complete).
 */
export function batchScript(options: { engineCommand: readonly string[]; run: readonly string[]; containerName: string; files: AttemptFiles; stopGraceSeconds: number; comment: string }): string {
  const engine = options.engineCommand.map(shellQuote).join(' ');
  const name = shellQuote(options.containerName);
  const { files } = options;
  return `#!/bin/sh
# docker-sim-manager: ${options.comment.replace(/\n/g, ' ')}
engine() { ${engine} "$@"; }
stopped=0
stop_container() { stopped=1; engine stop --time ${options.stopGraceSeconds} ${name} >/dev/null 2>&1; }
trap stop_container TERM INT
engine ${options.run.map(shellQuote).join(' ')} >${shellQuote(files.stdout)} 2>${shellQuote(files.stderr)} &
pid=$!
wait "$pid"; code=$?
# A trapped signal interrupts wait: wait again until the engine's client has returned.
while kill -0 "$pid" 2>/dev/null; do wait "$pid"; code=$?; done
# The container's own state: its exit code where the engine could not start the process (the client says 125),
# and the engine's OOM flag. None when the container was never created.
state=$(engine inspect --format '{{.State.ExitCode}} {{.State.OOMKilled}}' ${name} 2>/dev/null || echo 'none unknown')
# The engine learns of an OOM kill through an event that can come just after the exit: a SIGKILL is looked at again.
tries=0
while [ "$code" = 137 ] && [ "\${state#* }" = false ] && [ $tries -lt 5 ]; do
  tries=$((tries + 1)); sleep 0.3
  state=$(engine inspect --format '{{.State.ExitCode}} {{.State.OOMKilled}}' ${name} 2>/dev/null || echo 'none unknown')
done
# An engine that lost its OOM flag: the kernel's log (readable by root) records the kill with the container's id.
if [ "$code" = 137 ] && [ "\${state#* }" = false ]; then
  id=$(engine inspect --format '{{.Id}}' ${name} 2>/dev/null)
  if [ -n "$id" ] && dmesg 2>/dev/null | grep "oom-kill:" | grep -q "$id"; then state="\${state% *} true"; fi
fi
engine rm --force ${name} >/dev/null 2>&1
printf 'exit=%s state=%s oom=%s stopped=%s\\n' "$code" "\${state% *}" "\${state#* }" "$stopped" >${shellQuote(`${files.status}.tmp`)} && mv ${shellQuote(`${files.status}.tmp`)} ${shellQuote(files.status)}
`;
}
