import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import Docker from 'dockerode';

/** A second dockerd on this machine, with its own data root, exec root, pid file and socket. */
export interface SecondEngine {
  socketPath: string;
  docker: Docker;
  /** Stops it (SIGTERM, as a service manager would) and waits until it is gone. */
  stop(): Promise<void>;
  /** Stops it if it runs and removes its folders. */
  dispose(): Promise<void>;
}

const isCi = process.env.CI === 'true' || process.env.CI === '1';

/** Why a second engine cannot be started here, or undefined when it can. */
export function secondEngineUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'dockerd needs root';
  if (spawnSync('sh', ['-c', 'command -v dockerd'], { encoding: 'utf8' }).status !== 0) return 'no dockerd binary';
  return undefined;
}

/** Starts a second engine (bridge none, no iptables) and waits until it answers; fails under CI when it cannot. */
export async function startSecondEngine(): Promise<SecondEngine | undefined> {
  const reason = secondEngineUnavailable();
  if (reason !== undefined) {
    if (isCi) throw new Error(`A second Docker engine cannot be started (${reason}); CI=true makes this a failure.`);
    return undefined;
  }
  const root = await mkdtemp(path.join(os.tmpdir(), 'dsim-engine2-'));
  const socketPath = path.join(root, 'docker.sock');
  const child: ChildProcess = spawn(
    'dockerd',
    ['--data-root', path.join(root, 'data'), '--exec-root', path.join(root, 'exec'), '--pidfile', path.join(root, 'docker.pid'), '--host', `unix://${socketPath}`, '--bridge=none', '--iptables=false', '--ip6tables=false'],
    { stdio: ['ignore', 'ignore', 'pipe'], detached: true },
  );
  let log = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    log = (log + chunk.toString()).slice(-4000);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const docker = new Docker({ socketPath });
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      await docker.ping();
      break;
    } catch {
      if (Date.now() > deadline || child.exitCode !== null) {
        child.kill('SIGKILL');
        throw new Error(`The second dockerd did not answer within 60 s; its log ends with:\n${log}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([exited, new Promise((resolve) => (timer = setTimeout(resolve, 30_000)))]);
    clearTimeout(timer); // a pending 30 s timer would keep Jest from exiting after the run
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  return {
    socketPath,
    docker,
    stop,
    dispose: async () => {
      await stop();
      // The engine's own mounts (overlay, shm) are gone once it stopped; what is left is plain files.
      spawnSync('sh', ['-c', `grep -o '${root}[^ ]*' /proc/mounts | sort -r | xargs -r -n1 umount -l`]);
      await rm(root, { recursive: true, force: true }).catch(() => undefined);
    },
  };
}
