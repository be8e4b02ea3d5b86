import { createWriteStream, type WriteStream } from 'node:fs';
import type { Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';

export type OutputStreamName = 'stdout' | 'stderr';

/** The longest line handed to `onLine`; longer runs without a newline are split. */
const MAX_LINE_CHARS = 64 * 1024;

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

/**
 * Streams a job's stdout and stderr into `log.txt` as they arrive (never buffering a whole log), with
 * backpressure, and hands complete lines to `onLine` when someone listens.
 */
export class LogSink {
  readonly bytes: Record<OutputStreamName, number> = { stdout: 0, stderr: 0 };
  private readonly file: WriteStream;
  private readonly splitters: Partial<Record<OutputStreamName, LineSplitter>> = {};
  private fileError: Error | undefined;

  constructor(
    logFile: string,
    private readonly onLine?: (stream: OutputStreamName, line: string) => void,
  ) {
    this.file = createWriteStream(logFile, { flags: 'wx' });
    this.file.on('error', (error) => {
      this.fileError = error;
    });
    if (onLine) {
      for (const name of ['stdout', 'stderr'] as const) {
        this.splitters[name] = new LineSplitter((line) => onLine(name, line));
      }
    }
  }

  /** Writes one chunk; returns false when the file wants the producer to wait for 'drain'. */
  write(name: OutputStreamName, chunk: Buffer): boolean {
    this.bytes[name] += chunk.length;
    this.splitters[name]?.write(chunk);
    return this.file.write(chunk);
  }

  /** Copies a live stream into the log; resolves when it ends (or errors, or closes). */
  follow(name: OutputStreamName, stream: Readable): Promise<void> {
    return new Promise((resolve) => {
      let isWaitingForDrain = false;
      stream.on('data', (chunk: Buffer) => {
        if (!this.write(name, chunk) && !isWaitingForDrain) {
          isWaitingForDrain = true;
          stream.pause();
          this.file.once('drain', () => {
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

  /** Flushes partial lines and closes the file; rejects if writing the file failed. */
  async close(): Promise<void> {
    for (const splitter of Object.values(this.splitters)) splitter.end();
    await new Promise<void>((resolve) => {
      if (this.file.closed || this.file.destroyed) return resolve();
      this.file.end(() => resolve());
      this.file.once('error', () => resolve());
    });
    if (this.fileError) throw this.fileError;
  }
}
