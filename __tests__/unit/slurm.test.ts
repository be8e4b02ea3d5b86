/**
 * The Slurm backend's translations, on their own: what `scontrol show job -o` says, the batch script and the
 * engine command line it runs, the comment the orphan sweep reads back, and how an attempt ended (its status
 * file, else Slurm's final state: TIMEOUT, OUT_OF_MEMORY, NODE_FAIL...). The conformance suite runs the
 * backend itself against a real one-node cluster.
 */
import { jest } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { batchScript, envFileText, runArgs } from '../../src/backends/slurm/batch-script.js';
import { shellQuote } from '../../src/util/shell-quote-word.js';
import { parseJobLine, slurmCommands, type SlurmJobState } from '../../src/backends/slurm/slurm-commands.js';
import { SlurmQueue } from '../../src/backends/slurm/slurm-queue.js';
import { parseStatus, slurmAttemptEnd } from '../../src/backends/slurm/attempt-end.js';
import { parseSlurmComment } from '../../src/backends/slurm/slurm-backend.js';
import { DockerSimManager, LABELS, ValidationError } from '../../src/index.js';
import { InMemoryRuntime } from '../../src/testing.js';

describe('scontrol show job -o', () => {
  test('a line becomes the job\'s state, reason, exit code and comment, values with spaces included', () => {
    const line = 'JobId=42 JobName=dsim-abc-1-a UserId=root(0) GroupId=root(0) MCS_label=N/A Priority=1 Nice=0 Account=(null) QOS=(null) JobState=PENDING Reason=BeginTime Dependency=(null) Requeue=1 Restarts=0 BatchFlag=1 Reboot=0 ExitCode=0:0 RunTime=00:00:00 TimeLimit=UNLIMITED SubmitTime=2026-12-03T16:00:00 StartTime=2026-12-03T17:00:00 Comment=dsim;run=abc;host=vm;pid=12;start=99;job=a b Command=/data/job.sh';
    expect(parseJobLine(line)).toEqual({ id: '42', name: 'dsim-abc-1-a', state: 'PENDING', reason: 'BeginTime', exitCode: 0, comment: 'dsim;run=abc;host=vm;pid=12;start=99;job=a b', submitTime: '2026-12-03T16:00:00', startTime: '2026-12-03T17:00:00' });
    expect(parseJobLine('JobId=7 JobState=CANCELLED by 0 ExitCode=0:15')).toMatchObject({ state: 'CANCELLED', exitCode: 0 });
    expect(parseJobLine('No jobs in the system')).toBeUndefined();
  });

  test('the comment names the run and the driver process; anyone else\'s job is not ours', () => {
    expect(parseSlurmComment('dsim;run=abc;host=vm;pid=12;start=99;job=a')).toEqual({ runId: 'abc', labels: { [LABELS.ownerHost]: 'vm', [LABELS.ownerPid]: '12', [LABELS.ownerStart]: '99' } });
    expect(parseSlurmComment('nightly backup')).toBeUndefined();
  });
});

describe('the queue watch', () => {
  afterEach(() => jest.restoreAllMocks());

  test('a job submitted while a listing was under way is not taken for gone by that listing', async () => {
    const running = (id: string): SlurmJobState => ({ id, name: `dsim-r-1-${id}`, state: 'RUNNING', reason: 'None', exitCode: 0, comment: '', submitTime: '', startTime: '' });
    let answerFirst: (jobs: Map<string, SlurmJobState>) => void = () => undefined;
    const listings = jest.spyOn(slurmCommands, 'jobs')
      .mockImplementationOnce(() => new Promise((resolve) => (answerFirst = resolve)))
      .mockResolvedValue(new Map([['1', running('1')], ['2', running('2')]]));
    const queue = new SlurmQueue(() => undefined);
    const heard: Record<string, Array<string | undefined>> = { '1': [], '2': [] };
    const until = async (condition: () => boolean): Promise<void> => {
      while (!condition()) await new Promise((resolve) => setTimeout(resolve, 10));
    };
    const stopOne = queue.watch('1', (state) => heard['1']?.push(state?.state));
    // Job 2 is submitted while the first listing (which cannot know it) is under way.
    await until(() => listings.mock.calls.length === 1);
    const stopTwo = queue.watch('2', (state) => heard['2']?.push(state?.state));
    try {
      answerFirst(new Map([['1', running('1')]]));
      await until(() => heard['2']?.length !== 0);
    } finally {
      stopOne();
      stopTwo();
    }
    expect(heard).toEqual({ '1': ['RUNNING'], '2': ['RUNNING'] });
  });
});

describe('the engine command line of an attempt', () => {
  test('it runs the container as a fresh container would: mounts, user, limits, hardening, entrypoint and command', () => {
    const args = runArgs(
      {
        name: '',
        image: '',
        entrypoint: ['/usr/bin/env', 'python3'],
        cmd: ['sim.py', '--seed', '1'],
        env: { A: '1' },
        workingDir: '/work',
        user: '1000:1000',
        labels: { [LABELS.job]: 'a' },
        binds: [{ hostPath: '/shared/data/job_a', containerPath: '/mnt/data' }],
        networkMode: 'none',
        nanoCpus: 1.5e9,
        memoryBytes: 256 * 1024 ** 2,
        readOnlyRootfs: true,
        capDrop: ['ALL'],
        noNewPrivileges: true,
        pidsLimit: 64,
        tmpfs: ['/tmp'],
        init: true,
      },
      { image: 'sha256:abc', containerName: 'dsim-r-1-a', envFile: '/shared/.dsim-slurm/r/env', extraBinds: [{ hostPath: '/shared/.dsim-slurm/r/t/0/c.txt', containerPath: '/etc/c.txt' }] },
    );
    expect(args).toEqual([
      'run', '--name', 'dsim-r-1-a', '--env-file', '/shared/.dsim-slurm/r/env', '--label', `${LABELS.job}=a`,
      '--volume', '/shared/data/job_a:/mnt/data:rw', '--volume', '/shared/.dsim-slurm/r/t/0/c.txt:/etc/c.txt:ro',
      '--user', '1000:1000', '--workdir', '/work', '--network', 'none', '--cpus', '1.5', '--memory', `${256 * 1024 ** 2}b`, '--memory-swap', `${256 * 1024 ** 2}b`,
      '--init', '--read-only', '--cap-drop', 'ALL', '--security-opt', 'no-new-privileges', '--pids-limit', '64', '--tmpfs', '/tmp:rw,nosuid,nodev,mode=1777',
      '--entrypoint', '/usr/bin/env', 'sha256:abc', 'python3', 'sim.py', '--seed', '1',
    ]);
    expect(envFileText({ A: '1', B: 'x y' })).toBe('A=1\nB=x y\n');
  });

  test('the batch script quotes every word: a hostile argument reaches the container as one word and runs nothing', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'dsim-slurm-script-'));
    try {
      const files = { stdout: path.join(dir, 'out'), stderr: path.join(dir, 'err'), status: path.join(dir, 'status'), envFile: path.join(dir, 'env') };
      const hostile = `'; touch ${dir}/pwned; echo '$(id)`;
      // A fake engine that prints its arguments one per line, as the container would get them.
      const engine = path.join(dir, 'engine');
      await writeFile(engine, '#!/bin/sh\nif [ "$1" = run ]; then shift; for a in "$@"; do printf "%s\\n" "$a"; done; exit 3; fi\nif [ "$1" = inspect ]; then echo "3 false"; fi\n', { mode: 0o755 });
      const script = batchScript({ engineCommand: [engine], run: ['run', 'img', hostile], containerName: 'c', files, stopGraceSeconds: 1, comment: 'test' });
      await writeFile(path.join(dir, 'job.sh'), script, { mode: 0o755 });
      execFileSync('sh', [path.join(dir, 'job.sh')]);
      expect(await readFile(files.stdout, 'utf8')).toBe(`img\n${hostile}\n`);
      expect(await readFile(files.status, 'utf8')).toBe('exit=3 state=3 oom=false stopped=0\n');
      await expect(readFile(path.join(dir, 'pwned'))).rejects.toThrow();
      expect(shellQuote("it's")).toBe(`'it'\\''s'`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('Slurm settings are checked before anything is submitted', () => {
  const runtime = (): InMemoryRuntime => new InMemoryRuntime({ images: { 'sim:1': {} } });

  test('`slurm` without backend \'slurm\', an unknown key, a bad partition name: ValidationErrors naming the field', () => {
    const make = (options: object) => () => new DockerSimManager({ image: 'sim:1', dataDirectory: os.tmpdir(), runtime: runtime(), ...options });
    expect(make({ slurm: { partition: 'main' } })).toThrow(expect.objectContaining({ field: 'slurm', message: expect.stringMatching(/unless backend is 'slurm'/) }));
    expect(make({ backend: 'slurm', slurm: { partiton: 'main' } })).toThrow(expect.objectContaining({ field: 'slurm.partiton' }));
    expect(make({ backend: 'slurm', slurm: { partition: 'main; rm -rf /' } })).toThrow(ValidationError);
    expect(make({ backend: 'slurm', slurm: { engineCommand: [] } })).toThrow(expect.objectContaining({ field: 'slurm.engineCommand' }));
    expect(make({ backend: 'slurm', executionMode: 'pool' })).toThrow(expect.objectContaining({ field: 'executionMode' }));
  });
});

describe('how an attempt ended: the batch script\'s status file, else Slurm\'s final state', () => {
  const slurmState = (state: string, reason = 'None'): SlurmJobState => ({ id: '7', name: 'dsim-r-1-a', state, reason, exitCode: null, comment: '', submitTime: '', startTime: '' });
  const end = (state: SlurmJobState | undefined, statusLine: string | undefined, isStopRequested = false) =>
    slurmAttemptEnd({ state, status: statusLine === undefined ? undefined : parseStatus(statusLine), isStopRequested, slurmId: '7', jobName: 'a', logFile: '/data/job_a/log.txt' });

  test('a status file gives the exit code; the engine\'s OOM flag or Slurm\'s OUT_OF_MEMORY marks an OOM kill', () => {
    expect(end(slurmState('COMPLETED'), 'exit=0 state=0 oom=false stopped=0\n')).toEqual({ end: { exitCode: 0 }, isOomKilled: false });
    expect(end(slurmState('FAILED'), 'exit=3 state=3 oom=false stopped=0\n')).toEqual({ end: { exitCode: 3 }, isOomKilled: false });
    expect(end(slurmState('FAILED'), 'exit=137 state=137 oom=true stopped=0\n')).toEqual({ end: { exitCode: 137 }, isOomKilled: true });
    expect(end(slurmState('OUT_OF_MEMORY'), 'exit=137 state=137 oom=false stopped=0\n')).toEqual({ end: { exitCode: 137 }, isOomKilled: true });
    // A user the image lacks: the client says 125, the container's own code (126-128) says why.
    expect(end(slurmState('FAILED'), 'exit=125 state=127 oom=false stopped=0\n').end).toEqual({ exitCode: 127 });
  });

  test('exit 125 with no container is the node\'s engine failing (lost, so retried), naming the job\'s log', () => {
    expect(end(slurmState('FAILED'), 'exit=125 state=none oom=unknown stopped=0\n').end).toEqual({ exitCode: null, lostReason: expect.stringMatching(/could not run job a \(exit code 125, no container\): see \/data\/job_a\/log\.txt/) });
  });

  test("a script Slurm signalled: its TIMEOUT is a time-out; anything this run did not ask for is lost; this run's own stop is the exit", () => {
    expect(end(slurmState('TIMEOUT'), 'exit=143 state=143 oom=false stopped=1\n').end).toEqual({ exitCode: 143, isTimedOut: true });
    expect(end(slurmState('CANCELLED', 'None'), 'exit=143 state=143 oom=false stopped=1\n').end).toEqual({ exitCode: null, lostReason: expect.stringMatching(/stopped from outside this run \(CANCELLED \(None\)\)/) });
    expect(end(slurmState('PREEMPTED'), 'exit=143 state=143 oom=false stopped=1\n').end).toEqual({ exitCode: null, lostReason: expect.stringMatching(/PREEMPTED/) });
    expect(end(slurmState('CANCELLED'), 'exit=143 state=143 oom=false stopped=1\n', true).end).toEqual({ exitCode: 143 });
  });

  test('no status file: TIMEOUT, OUT_OF_MEMORY, and NODE_FAIL, BOOT_FAIL or a job the controller forgot as lost', () => {
    expect(end(slurmState('TIMEOUT'), undefined)).toEqual({ end: { exitCode: null, isTimedOut: true }, isOomKilled: false });
    expect(end(slurmState('OUT_OF_MEMORY'), undefined)).toEqual({ end: { exitCode: 137 }, isOomKilled: true });
    for (const state of ['NODE_FAIL', 'BOOT_FAIL']) {
      expect(end(slurmState(state, 'NodeDown'), undefined).end).toEqual({ exitCode: null, lostReason: expect.stringContaining(`ended as ${state} (NodeDown) before its container reported an exit`) });
    }
    expect(end(undefined, undefined).end).toEqual({ exitCode: null, lostReason: expect.stringContaining('no longer known to the controller') });
    expect(end(slurmState('CANCELLED'), undefined, true).end).toEqual({ exitCode: null, lostReason: 'Slurm job 7 of job a was cancelled before its container reported an exit.' });
  });

  test('an incomplete or empty status line is no status', () => {
    expect(parseStatus('exit=0 state=0 oo')).toBeUndefined();
    expect(parseStatus('')).toBeUndefined();
  });
});
