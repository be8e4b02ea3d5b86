/**
 * The resident runner: a POSIX shell script that lives in a pool worker (one `docker exec` per worker, with its
 * stdin attached) and starts each job as an ordinary child process, with no engine call per job.
 *
 * Protocol. Requests come on the runner's stdin, one per line; lines that are not requests are ignored (Podman
 * may write its attach body there first):
 *   `dsim ping <token>`           answered with `DSIM-PONG:<token>` on stdout
 *   `dsim run <token>` + script   the job's script follows, line by line, up to a line holding only <token>
 *   `dsim stop` / `dsim kill`     SIGTERM / SIGKILL to every process of the running job
 * A job's stdout and stderr are the runner's own (one job runs at a time in a worker); when the job has ended
 * and its leftovers are killed, the runner writes `DSIM-END:<token>:<exit code>` and a newline to stdout and
 * `DSIM-END:<token>:` and a newline to stderr: the driver cuts each stream there. End of stdin ends the runner.
 *
 * Processes of a job: every process in the worker but PID 1, the keep-alive process and the runner's own (the
 * worker runs one job at a time, so whatever else runs is the job's, including children it left behind and
 * that were re-parented to PID 1). Found in /proc with shell builtins only: the image needs nothing but /bin/sh.
 *
 * Each job costs two forks of the runner's shell (a keeper that waits for the job, and the job, which `exec`s its
 * argv after the mount path link is switched): no new shell is loaded per job.
 */
export const RUNNER_SCRIPT = [
  // sweep SIGNAL "pids to spare": the signal to every other process.
  'sweep() { for d in /proc/[0-9]*; do p=${d#/proc/}; case " $2 " in *" $p "*) ;; *) kill -"$1" "$p" 2>/dev/null;; esac; done; }',
  // What runs in the worker before any job (PID 1, the keep-alive process, this runner) is never the job's.
  'base=""; for d in /proc/[0-9]*; do base="$base ${d#/proc/}"; done',
  'keeper=""',
  'while IFS= read -r line; do',
  '  case $line in',
  `    "dsim ping "*) printf 'DSIM-PONG:%s\\n' "\${line#dsim ping }" ;;`,
  '    "dsim run "*)',
  '      token=${line#dsim run }; script=""',
  '      while IFS= read -r part && [ "$part" != "$token" ]; do script="$script$part',
  '"; done',
  // The keeper: a fork that runs the job, waits for it, kills what it left behind, and writes the end markers.
  // The job's stderr is fd 3; the keeper's own (a shell's note that its child was killed) goes nowhere.
  '      (',
  '        read -r self rest </proc/self/stat',
  '        (eval "$script") </dev/null 2>&3 3>&- &',
  '        wait $!',
  '        code=$?',
  '        sweep KILL "$base $self"',
  `        printf 'DSIM-END:%s:%s\\n' "$token" "$code"`,
  `        printf 'DSIM-END:%s:\\n' "$token" >&3`,
  '      ) 3>&2 2>/dev/null &',
  '      keeper=$! ;;',
  '    "dsim stop") sweep TERM "$base $keeper" ;;',
  '    "dsim kill") sweep KILL "$base $keeper" ;;',
  '  esac',
  'done',
  // The driver went away: the job goes too.
  'sweep KILL "$base $keeper"',
].join('\n');
