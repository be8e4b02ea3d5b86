import { randomBytes } from 'node:crypto';
import { PassThrough, type Readable, type Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import type { ContainerOutput, ContainerRuntime } from '../../runtime/container-runtime.js';
import { RUNNER_SCRIPT } from './runner-script.js';

/** How long a new runner may take to answer its first ping before the worker falls back to an exec per job. */
const PING_TIMEOUT_MS = 10_000;

/** One job in a runner: its own output, and its end (null when the runner died under it). */
export interface RunnerJob {
  stdout: Readable;
  stderr: Readable;
  ended: Promise<number | null>;
}

/** How many bytes at the end of `data` are the start of `marker`. */
function heldBack(data: Buffer, marker: Buffer): number {
  for (let k = Math.min(data.length, marker.length - 1); k > 0; k--) {
    if (data.subarray(data.length - k).equals(marker.subarray(0, k))) return k;
  }
  return 0;
}

/**
 * Cuts one of the runner's output streams into its jobs' streams at the end markers the runner writes
 * (`DSIM-END:<token>:<code>\n`, see runner-script.ts). Bytes are passed on as they come, except an end of a
 * chunk that could be the start of the marker.
 */
class MarkerSplitter {
  private pending: Buffer = Buffer.alloc(0);
  private job: { marker: Buffer; sink: PassThrough; onEnd: (code: string | null) => void } | undefined;

  constructor(private readonly source: Readable) {
    source.on('data', (chunk: Buffer) => {
      // Between jobs nothing of a job's comes (its processes were killed before its marker): only the ping's answer.
      if (!this.job) return;
      this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
      this.cut();
    });
    source.once('close', () => this.lose());
    source.once('end', () => this.lose());
  }

  /** Starts the stream of the next job; `onEnd` hears the code after its marker (null if the stream ended first). */
  begin(token: string, onEnd: (code: string | null) => void): PassThrough {
    const sink = new PassThrough();
    this.job = { marker: Buffer.from(`DSIM-END:${token}:`), sink, onEnd };
    this.cut();
    return sink;
  }

  private cut(): void {
    const { job } = this;
    if (!job) return;
    const at = this.pending.indexOf(job.marker);
    if (at === -1) {
      // Held back: only an end that could be the start of the marker (a job's "up\n" passes at once).
      const held = heldBack(this.pending, job.marker);
      if (held < this.pending.length) {
        this.pass(job.sink, this.pending.subarray(0, this.pending.length - held));
        this.pending = this.pending.subarray(this.pending.length - held);
      }
      return;
    }
    const newline = this.pending.indexOf(10, at + job.marker.length);
    if (newline === -1) return;
    if (at > 0) this.pass(job.sink, this.pending.subarray(0, at));
    const code = this.pending.subarray(at + job.marker.length, newline).toString();
    this.pending = this.pending.subarray(newline + 1);
    this.job = undefined;
    job.sink.end();
    job.onEnd(code);
  }

  /** Writes to a job's stream; the runner's output waits while the job's log is behind (as an exec's would). */
  private pass(sink: PassThrough, data: Buffer): void {
    if (sink.write(data) || this.source.isPaused()) return;
    this.source.pause();
    // 'finish' too: a stream ended right after this write may never say 'drain'.
    const resume = (): void => {
      sink.off('drain', resume).off('finish', resume);
      this.source.resume();
    };
    sink.once('drain', resume).once('finish', resume);
  }

  private lose(): void {
    const { job } = this;
    this.job = undefined;
    if (!job) return;
    if (this.pending.length > 0) job.sink.write(this.pending);
    job.sink.end();
    job.onEnd(null);
  }
}

/**
 * The driver's side of a resident runner (runner-script.ts): one exec per worker, as the jobs' user, that starts
 * each job as a child process. `run` hands it a job's script; `stop` and `kill` signal the running job's
 * processes; the worker stays up for the next job.
 */
export class ResidentRunner {
  private alive = true;

  private constructor(
    /** The user the runner (and so every job it runs) runs as; undefined: the image's. */
    readonly user: string | undefined,
    private readonly stdin: Writable,
    private readonly output: ContainerOutput,
    private readonly stdout: MarkerSplitter,
    private readonly stderr: MarkerSplitter,
  ) {
    const lost = (): void => {
      this.alive = false;
    };
    output.stdout.once('end', lost).once('close', lost);
    stdin.on('error', lost);
  }

  /**
   * Starts a runner in a worker and checks it answers; undefined when the runtime cannot attach an exec's stdin
   * (the worker then runs an exec per job).
   */
  static async start(runtime: ContainerRuntime, workerId: string, user: string | undefined): Promise<ResidentRunner | undefined> {
    // First a plain exec as that user: an engine that refuses the user (Podman, at start) or the process (Docker,
    // with 126) does it here, where no attached stdin is left open by the refusal.
    const probeId = await runtime.createExec(workerId, { cmd: ['/bin/sh', '-c', 'exit 0'], env: {}, ...(user === undefined ? {} : { user }) });
    const probe = await runtime.startExec(probeId);
    probe.stdout.resume();
    probe.stderr.resume();
    await Promise.all([finished(probe.stdout), finished(probe.stderr)]).catch(() => undefined);
    if ((await runtime.inspectExec(probeId)).exitCode !== 0) return undefined;
    const execId = await runtime.createExec(workerId, { cmd: ['/bin/sh', '-c', RUNNER_SCRIPT, 'dsim-runner'], env: {}, ...(user === undefined ? {} : { user }), stdin: true });
    const output = await runtime.startExec(execId);
    const { stdin } = output;
    if (stdin === undefined) {
      output.close();
      return undefined;
    }
    const runner = new ResidentRunner(user, stdin, output, new MarkerSplitter(output.stdout), new MarkerSplitter(output.stderr));
    if (!(await runner.ping())) {
      runner.close();
      return undefined;
    }
    return runner;
  }

  /** Whether the runner still runs (its output is open). */
  get isAlive(): boolean {
    return this.alive;
  }

  /** A first line for anything the engine wrote to stdin before us (Podman's attach body), then a ping. */
  private ping(): Promise<boolean> {
    const token = randomBytes(8).toString('hex');
    return new Promise((resolve) => {
      let seen = '';
      const timer = setTimeout(() => finish(false), PING_TIMEOUT_MS);
      const onData = (chunk: Buffer): void => {
        seen += chunk.toString();
        if (seen.includes(`DSIM-PONG:${token}\n`)) finish(true);
      };
      const onEnd = (): void => finish(false);
      const finish = (answered: boolean): void => {
        clearTimeout(timer);
        this.output.stdout.off('data', onData).off('end', onEnd).off('close', onEnd);
        resolve(answered);
      };
      this.output.stdout.once('end', onEnd).once('close', onEnd);
      // Read the answer before the splitter sees the stream: nothing else comes before the first job.
      this.output.stdout.prependListener('data', onData);
      this.stdin.write(`\ndsim ping ${token}\n`);
    });
  }

  /** Starts a job: `script` is run by /bin/sh as a child of the runner. One job at a time. */
  run(script: string): RunnerJob {
    const token = randomBytes(12).toString('hex');
    let stdoutCode: string | null | undefined;
    let stderrDone = false;
    let settle: (code: number | null) => void = () => undefined;
    const ended = new Promise<number | null>((resolve) => (settle = resolve));
    const check = (): void => {
      if (stdoutCode === undefined || !stderrDone) return;
      settle(stdoutCode === null || !/^\d+$/.test(stdoutCode) ? null : Number(stdoutCode));
    };
    const stdout = this.stdout.begin(token, (code) => {
      stdoutCode = code;
      check();
    });
    const stderr = this.stderr.begin(token, () => {
      stderrDone = true;
      check();
    });
    this.stdin.write(`dsim run ${token}\n${script}${script.endsWith('\n') ? '' : '\n'}${token}\n`);
    return { stdout, stderr, ended };
  }

  /** SIGTERM to the running job's processes. */
  stop(): void {
    if (this.alive) this.stdin.write('dsim stop\n');
  }

  /** SIGKILL to the running job's processes. */
  kill(): void {
    if (this.alive) this.stdin.write('dsim kill\n');
  }

  /** Ends the runner (end of its stdin: it kills what runs and exits). */
  close(): void {
    this.alive = false;
    this.stdin.end();
    this.output.close();
  }
}
