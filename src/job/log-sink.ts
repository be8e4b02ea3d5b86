import { once } from 'node:events';
import { createWriteStream, type WriteStream } from 'node:fs';
import type { Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { maskSecrets } from './secret-values.js';

export type OutputStreamName = 'stdout' | 'stderr';

/** The longest line handed to `onLine`; longer runs without a newline are split. */
const MAX_LINE_CHARS = 64 * 1024;
/** How much of the end of each stream is kept in memory, for the reason of a failure. */
const TAIL_BYTES = 4096;
/** The longest tail line put into a message. */
const MAX_TAIL_LINE_CHARS = 300;

class LineSplitter {
  private readonly decoder = new StringDecoder('utf8');
  private rest = '';

  constructor(private readonly onLine: (line: string) => void) {}

  write(chunk: Buffer): void {
    this.rest += this.decoder.write(chunk);
    let start = 0;
    let newline = this.rest.indexOf('\n', start);
    while (newline !== -1) {
      this.onLine(this.rest.slice(start, newline).replace(/\r$/, ''));
      start = newline + 1;
      newline = this.rest.indexOf('\n', start);
    }
    this.rest = this.rest.slice(start);
    while (this.rest.length > MAX_LINE_CHARS) {
      this.onLine(this.rest.slice(0, MAX_LINE_CHARS));
      this.rest = this.rest.slice(MAX_LINE_CHARS);
    }
  }

  end(): void {
    this.rest += this.decoder.end();
    if (this.rest !== '') this.onLine(this.rest.replace(/\r$/, ''));
    this.rest = '';
  }
}

/** Where a job's output goes. */
export interface LogFiles {
  /** stdout and stderr interleaved as they arrived. */
  combined: string;
  stdout: string;
  stderr: string;
}

/**
 * Streams a job's stdout and stderr into `log.txt`, `stdout.log` and `stderr.log` as they arrive (never buffering
 * a whole log), with backpressure, and hands complete lines to `onLine` when someone listens. After `maxBytes`
 * of output, further output is dropped and one marker line says so.
 */
export class LogSink {
  readonly bytes: Record<OutputStreamName, number> = { stdout: 0, stderr: 0 };
  /** When the job last wrote anything (kept or not), in ms since the epoch. */
  lastOutputAt = Date.now();
  private readonly combined: WriteStream;
  private readonly perStream: Record<OutputStreamName, WriteStream>;
  private readonly splitters: Partial<Record<OutputStreamName, LineSplitter>> = {};
  private fileError: Error | undefined;
  private isTruncated = false;
  private readonly tails: Record<OutputStreamName, Buffer> = { stdout: Buffer.alloc(0), stderr: Buffer.alloc(0) };

  constructor(
    files: LogFiles,
    private readonly options: {
      maxBytes: number;
      onLine?: ((stream: OutputStreamName, line: string) => void) | undefined;
      onTruncated?: (() => void) | undefined;
    },
  ) {
    const open = (file: string): WriteStream =>
      createWriteStream(file, { flags: 'wx' }).on('error', (error) => {
        this.fileError ??= error;
      });
    this.combined = open(files.combined);
    this.perStream = { stdout: open(files.stdout), stderr: open(files.stderr) };
    const { onLine } = options;
    if (onLine) {
      for (const name of ['stdout', 'stderr'] as const) {
        this.splitters[name] = new LineSplitter((line) => onLine(name, line));
      }
    }
  }

  /** Bytes the job produced, kept or not. */
  get totalBytes(): number {
    return this.bytes.stdout + this.bytes.stderr;
  }

  /** Writes one chunk; returns false when the files want the producer to wait for 'drain'. */
  write(name: OutputStreamName, chunk: Buffer): boolean {
    const kept = Math.max(0, Math.min(chunk.length, this.options.maxBytes - this.totalBytes));
    this.bytes[name] += chunk.length;
    const tail = chunk.length >= TAIL_BYTES ? chunk.subarray(chunk.length - TAIL_BYTES) : Buffer.concat([this.tails[name], chunk]);
    this.tails[name] = tail.length > TAIL_BYTES ? tail.subarray(tail.length - TAIL_BYTES) : tail;
    if (chunk.length > 0) this.lastOutputAt = Date.now();
    if (kept === 0) {
      this.truncate();
      return true;
    }
    const data = kept === chunk.length ? chunk : chunk.subarray(0, kept);
    this.splitters[name]?.write(data);
    const isCombinedReady = this.combined.write(data);
    const isStreamReady = this.perStream[name].write(data);
    if (kept < chunk.length) this.truncate();
    return isCombinedReady && isStreamReady;
  }

  /**
   * The last `count` non-blank lines the job wrote to a stream (from its last 4 KB), each at most 300
   * characters, with every string of `redact` replaced by `***`.
   */
  tail(name: OutputStreamName, count: number, redact: readonly string[] = []): string[] {
    const lines = this.tails[name]
      .toString('utf8')
      .split(/\r?\n/)
      .filter((line) => line.trim() !== '');
    // The first line may have been cut by the 4 KB window: dropped unless it is all there is.
    if (this.bytes[name] > TAIL_BYTES && lines.length > 1) lines.shift();
    return lines.slice(-count).map((line) => {
      const masked = maskSecrets(line, redact); // before the cut, so no part of a secret survives it
      return masked.length > MAX_TAIL_LINE_CHARS ? `${masked.slice(0, MAX_TAIL_LINE_CHARS)}…` : masked;
    });
  }

  private truncate(): void {
    if (this.isTruncated) return;
    this.isTruncated = true;
    const marker = `\n[docker-sim-manager] output truncated: the job wrote more than maxLogBytes (${this.options.maxBytes} bytes); the rest was dropped.\n`;
    for (const file of [this.combined, this.perStream.stdout, this.perStream.stderr]) file.write(marker);
    this.options.onTruncated?.();
  }

  /** Copies a live stream into the logs; resolves when it ends (or errors, or closes). */
  follow(name: OutputStreamName, stream: Readable): Promise<void> {
    return new Promise((resolve) => {
      let isWaitingForDrain = false;
      stream.on('data', (chunk: Buffer) => {
        if (!this.write(name, chunk) && !isWaitingForDrain) {
          isWaitingForDrain = true;
          stream.pause();
          const slow = [this.combined, this.perStream[name]].filter((file) => file.writableNeedDrain);
          void Promise.all(slow.map((file) => once(file, 'drain'))).then(() => {
            isWaitingForDrain = false;
            stream.resume();
          });
        }
      });
      stream.once('end', resolve);
      stream.once('close', resolve);
      stream.once('error', () => resolve());
    });
  }

  /** Flushes partial lines and closes the files; rejects if writing a file failed. */
  async close(): Promise<void> {
    for (const splitter of Object.values(this.splitters)) splitter.end();
    await Promise.all(
      [this.combined, this.perStream.stdout, this.perStream.stderr].map(
        (file) =>
          new Promise<void>((resolve) => {
            if (file.closed || file.destroyed) return resolve();
            file.end(() => resolve());
            file.once('error', () => resolve());
          }),
      ),
    );
    if (this.fileError) throw this.fileError;
  }
}
