import { PassThrough, type Readable } from 'node:stream';

const HEADER_BYTES = 8;

/**
 * Splits the engine's multiplexed stdout/stderr framing (8-byte header: stream type, 3 zero bytes, uint32 BE
 * length). Unlike docker-modem's `demuxStream`, it honours backpressure on both outputs and ends them when the
 * source ends, and it copies only the bytes that cross a chunk boundary.
 */
export class FrameDemuxer {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private frameStream = 0;
  private frameRemaining = 0;

  constructor(private readonly sink: (stream: 'stdout' | 'stderr', chunk: Buffer) => void) {}

  push(chunk: Buffer): void {
    let offset = 0;
    while (offset < chunk.length) {
      if (this.frameRemaining > 0) {
        const take = Math.min(this.frameRemaining, chunk.length - offset);
        this.emit(chunk.subarray(offset, offset + take));
        offset += take;
        this.frameRemaining -= take;
        continue;
      }
      const need = HEADER_BYTES - this.pendingBytes;
      const take = Math.min(need, chunk.length - offset);
      this.pending.push(chunk.subarray(offset, offset + take));
      this.pendingBytes += take;
      offset += take;
      if (this.pendingBytes === HEADER_BYTES) {
        const header = Buffer.concat(this.pending, HEADER_BYTES);
        this.pending = [];
        this.pendingBytes = 0;
        this.frameStream = header.readUInt8(0);
        this.frameRemaining = header.readUInt32BE(4);
      }
    }
  }

  private emit(data: Buffer): void {
    if (data.length > 0) this.sink(this.frameStream === 2 ? 'stderr' : 'stdout', data);
  }
}

/**
 * Demultiplexes a live stream into two readable streams with backpressure: when either consumer is slow, the
 * source is paused until it drains. Both outputs end when the source ends or closes.
 */
export function demuxStream(source: Readable): { stdout: PassThrough; stderr: PassThrough } {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const outputs = { stdout, stderr };
  const waiting = new Set<PassThrough>();
  const demuxer = new FrameDemuxer((stream, chunk) => {
    const output = outputs[stream];
    if (!output.write(chunk) && !waiting.has(output)) {
      waiting.add(output);
      source.pause();
      output.once('drain', () => {
        waiting.delete(output);
        if (waiting.size === 0) source.resume();
      });
    }
  });
  const finish = (): void => {
    if (!stdout.writableEnded) stdout.end();
    if (!stderr.writableEnded) stderr.end();
  };
  source.on('data', (chunk: Buffer) => demuxer.push(chunk));
  source.once('end', finish);
  source.once('close', finish);
  source.once('error', finish);
  return outputs;
}
