import { open, type FileHandle } from 'node:fs/promises';
import { PassThrough } from 'node:stream';

/** How often a followed file is checked for new bytes. */
const FOLLOW_POLL_MS = 200;

/**
 * Follows a file another host may be writing (on a shared file system, where change notifications do not
 * cross hosts): new bytes are read every FOLLOW_POLL_MS into `stream`. `finish()` reads what is left and ends
 * the stream; `close()` ends it at once. A file that does not exist yet is waited for.
 */
export function followFile(file: string): { stream: PassThrough; finish(): Promise<void>; close(): void } {
  const stream = new PassThrough();
  let handle: FileHandle | undefined;
  let offset = 0;
  let timer: NodeJS.Timeout | undefined;
  let isClosed = false;
  let isFinishing = false;
  let reading: Promise<void> = Promise.resolve();
  const buffer = Buffer.alloc(64 * 1024);

  const readNew = async (): Promise<void> => {
    if (isClosed) return;
    handle ??= await open(file, 'r').catch(() => undefined);
    if (handle === undefined) return;
    for (;;) {
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, offset);
      if (bytesRead === 0 || isClosed) return;
      offset += bytesRead;
      stream.write(Buffer.from(buffer.subarray(0, bytesRead)));
    }
  };
  const tick = (): void => {
    reading = readNew()
      .catch(() => undefined)
      .finally(() => {
        if (!isClosed && !isFinishing) timer = setTimeout(tick, FOLLOW_POLL_MS);
      });
  };
  const end = async (): Promise<void> => {
    isClosed = true;
    clearTimeout(timer);
    await handle?.close().catch(() => undefined);
    handle = undefined;
    stream.end();
  };
  tick();
  return {
    stream,
    finish: async () => {
      isFinishing = true;
      clearTimeout(timer);
      await reading;
      await readNew().catch(() => undefined);
      await end();
    },
    close: () => {
      void end();
    },
  };
}
