import { randomBytes, timingSafeEqual } from 'node:crypto';
import { open } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { ValidationError, describeValue } from '../errors/validation-error.js';
import { maskSecrets, secretValues } from '../job/secret-values.js';
import type { DockerSimManager } from '../manager/docker-sim-manager.js';
import type { SimJob } from '../job/sim-job.js';
import { MONITOR_PAGE } from './monitor-page.js';
import { MonitorState } from './monitor-state.js';
import { renderMetrics } from './prometheus-metrics.js';

/** Options of `startMonitor`. */
export interface MonitorOptions {
  /** The port to listen on; 0 picks a free one. @default 0 */
  port?: number;
  /** The address to listen on. Anything but a loopback address exposes the monitor (token-protected) to the network. @default '127.0.0.1' */
  host?: string;
  /** The access token; a random one when absent. */
  token?: string;
}

/** A running monitor. */
export interface MonitorHandle {
  /** The page's address, token included: give it only to whoever may watch the run. */
  url: string;
  port: number;
  token: string;
  /** Stops listening and ends the open event streams. */
  close(): Promise<void>;
}

/** How often, at most, a changed state is sent to each page. */
const PUSH_INTERVAL_MS = 500;
/** How much of the end of a log the page gets. */
const LOG_TAIL_BYTES = 64 * 1024;
const JOB_NAME = /^[\w.-]{1,128}$/;

function isAuthorized(request: http.IncomingMessage, url: URL, token: string): boolean {
  const header = request.headers.authorization;
  const given = url.searchParams.get('token') ?? (header?.startsWith('Bearer ') ? header.slice(7) : undefined);
  if (given === undefined) return false;
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** How many ended jobs (and failed ones, apart) keep their log reachable: what the page can list, and more. */
const ENDED_KEPT = 2000;
const FAILED_KEPT = 200;

/**
 * The jobs whose log the page may ask for: those running, the last that ended and the last that failed. Jobs of
 * a lazy source exist nowhere else once they ended; jobs the manager holds are always found.
 */
function jobsShown(manager: DockerSimManager): (name: string) => SimJob | undefined {
  const running = new Map<string, SimJob>();
  const ended = new Map<string, SimJob>();
  const failed = new Map<string, SimJob>();
  const keep = (map: Map<string, SimJob>, job: SimJob, limit: number): void => {
    map.delete(job.name);
    map.set(job.name, job);
    if (map.size > limit) map.delete(map.keys().next().value as string);
  };
  manager.on('job:started', ({ job }) => running.set(job.name, job));
  const end = ({ job, result }: { job: SimJob; result: { status: string } }): void => {
    running.delete(job.name);
    keep(ended, job, ENDED_KEPT);
    if (result.status === 'failed') keep(failed, job, FAILED_KEPT);
  };
  manager.on('job:succeeded', end);
  manager.on('job:failed', end);
  manager.on('job:cancelled', end);
  return (name) => running.get(name) ?? ended.get(name) ?? failed.get(name) ?? manager.simJobs.find((job) => job.name === name);
}

/** The last `LOG_TAIL_BYTES` of a job's log.txt, secrets of its env masked. */
async function logTail(manager: DockerSimManager, job: SimJob | undefined): Promise<string | undefined> {
  if (!job) return undefined;
  const { name } = job;
  const file = path.join(manager.config.dataDirectory, `job_${name}`, 'log.txt');
  const handle = await open(file, 'r').catch(() => undefined);
  if (!handle) return '(no log yet)';
  try {
    const { size } = await handle.stat();
    const length = Math.min(size, LOG_TAIL_BYTES);
    const buffer = Buffer.alloc(length);
    await handle.read(buffer, 0, length, size - length);
    const text = buffer.toString('utf8');
    const secrets = secretValues({ ...manager.config.defaults.env, ...job.settings.env });
    return `${size > length ? `[… the first ${size - length} bytes left out]\n` : ''}${maskSecrets(text, secrets)}`;
  } finally {
    await handle.close();
  }
}

/**
 * Serves a live view of a manager's runs on `node:http`: the page (counts, progress and ETA, running jobs,
 * failures first, a timeline, per-job usage, a job's log tail on click), `/events` (server-sent snapshots, only
 * when something changed, at most two a second), `/logs?job=<name>` and `/metrics` (Prometheus text). Every
 * endpoint needs the token, as `?token=` or `Authorization: Bearer`, and answers 401 without it. The state is
 * bounded whatever the sweep's size; env values are never shown. The server does not keep the process alive:
 * the final state stays visible until the process exits or `close()` is called.
 *
 * @example
 * ```ts
 * const monitor = await startMonitor(manager, { port: 8089 });
 * console.error(`watch the run at ${monitor.url}`);
 * await manager.startComputation();
 * ```
 */
export async function startMonitor(manager: DockerSimManager, options: MonitorOptions = {}): Promise<MonitorHandle> {
  const { port = 0, host = '127.0.0.1' } = options;
  if (!Number.isInteger(port) || port < 0 || port > 65_535) throw new ValidationError('port', port, `Expected \`port\` to be an integer from 0 to 65535, got ${describeValue(port)}.`);
  const token = options.token ?? randomBytes(18).toString('base64url');
  if (token.length < 16) throw new ValidationError('token', '(hidden)', 'Expected `token` to be at least 16 characters: it is all that guards the monitor.');
  const state = new MonitorState(manager);
  const findJob = jobsShown(manager);
  const streams = new Set<http.ServerResponse>();

  const server = http.createServer((request, response) => {
    const url = new URL(request.url ?? '/', 'http://monitor');
    if (!isAuthorized(request, url, token)) {
      response.writeHead(401, { 'content-type': 'text/plain; charset=utf-8', 'www-authenticate': 'Bearer' }).end('401: the monitor needs its token (?token=... or Authorization: Bearer ...).\n');
      return;
    }
    if (url.pathname === '/') {
      response.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store', 'referrer-policy': 'no-referrer' }).end(MONITOR_PAGE);
    } else if (url.pathname === '/events') {
      response.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' });
      response.write(`event: snapshot\ndata: ${JSON.stringify(state.snapshot())}\n\n`);
      streams.add(response);
      request.on('close', () => streams.delete(response));
    } else if (url.pathname === '/metrics') {
      response.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }).end(renderMetrics(state));
    } else if (url.pathname === '/logs') {
      const name = url.searchParams.get('job') ?? '';
      void logTail(manager, JOB_NAME.test(name) && name !== '.' && name !== '..' ? findJob(name) : undefined).then(
        (text) => (text === undefined ? response.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('No such job.\n') : response.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' }).end(text)),
        () => response.writeHead(500).end(),
      );
    } else {
      response.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('Not found.\n');
    }
  });
  // Neither the server nor its connections keep the process alive: a run's process ends when its work does.
  server.on('connection', (socket) => socket.unref());
  server.unref();

  let sent = -1;
  const flush = (): void => {
    if (state.version === sent || streams.size === 0) return;
    sent = state.version;
    const message = `event: snapshot\ndata: ${JSON.stringify(state.snapshot())}\n\n`;
    for (const stream of streams) stream.write(message);
  };
  const push = setInterval(flush, PUSH_INTERVAL_MS);
  push.unref();
  // The end of a run goes out at once: the process may exit right after it.
  manager.on('run:finished', flush);

  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(new ValidationError('port', port, `The monitor cannot listen on ${host}:${port} (${error.code ?? error.message}). Choose another port, or 0 for a free one.`, { cause: error })),
    );
    server.listen(port, host, () => resolve());
  });
  const actual = (server.address() as AddressInfo).port;
  const shownHost = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${shownHost}:${actual}/?token=${token}`,
    port: actual,
    token,
    close: async () => {
      clearInterval(push);
      manager.off('run:finished', flush);
      for (const stream of streams) stream.end();
      streams.clear();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
