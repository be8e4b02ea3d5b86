import { accessSync, constants, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** The parts of docker-modem this package reads: where the engine is, and a raw request for streamed answers. */
export interface ModemLike {
  socketPath?: string | (() => unknown) | undefined;
  host?: string | undefined;
  port?: string | number | undefined;
  protocol?: string | undefined;
  dial(options: Record<string, unknown>, callback: (error: unknown, result: unknown) => void): void;
}

/** docker-modem's default socket, which it resolves lazily: the user's Docker Desktop socket, else the system one. */
export function defaultSocket(): string {
  const userSocket = path.join(os.homedir(), '.docker', 'run', 'docker.sock');
  return existsSync(userSocket) ? userSocket : '/var/run/docker.sock';
}

/**
 * The sockets an engine on this host usually listens on, in the order they are tried when neither the
 * `docker` option nor DOCKER_HOST says where the engine is: Docker Desktop's user socket, the system Docker
 * socket, rootful Podman's, then the user's rootless Podman socket.
 */
export function knownSockets(): string[] {
  const runtimeDir = process.env.XDG_RUNTIME_DIR ?? (process.getuid ? `/run/user/${process.getuid()}` : undefined);
  return [
    path.join(os.homedir(), '.docker', 'run', 'docker.sock'),
    '/var/run/docker.sock',
    '/run/podman/podman.sock',
    ...(runtimeDir === undefined ? [] : [path.join(runtimeDir, 'podman', 'podman.sock')]),
  ];
}

/** Whether this process may connect to a socket file (read and write it). */
function isUsable(socket: string): boolean {
  try {
    accessSync(socket, constants.R_OK | constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * The first of the known sockets that this process may use (a user outside the docker group skips the system
 * Docker socket for their rootless Podman), else the first that exists (its error then says why it failed),
 * and every place looked at (for the error when none answers).
 */
export function discoverSocket(): { socket: string | undefined; tried: string[] } {
  const tried = knownSockets();
  return { socket: tried.find(isUsable) ?? tried.find((socket) => existsSync(socket)), tried };
}

/** Where the engine is, for messages, and whether it runs on this host (so host folders can be bind-mounted). */
export function describeEndpoint(modem: ModemLike): { endpoint: string; isLocal: boolean } {
  if (modem.socketPath) {
    const socket = typeof modem.socketPath === 'function' ? defaultSocket() : String(modem.socketPath);
    return { endpoint: socket.startsWith('//./pipe') ? `npipe://${socket}` : `unix://${socket}`, isLocal: true };
  }
  const protocol = modem.protocol ?? 'http';
  const port = modem.port === undefined ? '' : `:${modem.port}`;
  return { endpoint: `${protocol}://${modem.host ?? 'localhost'}${port}`, isLocal: false };
}

/** `label` filters for the engine's list endpoints: `key` (any value) or `key=value`. */
export function labelFilters(labels: Record<string, string | undefined>): { label: string[] } {
  return { label: Object.entries(labels).map(([k, v]) => (v === undefined ? k : `${k}=${v}`)) };
}
