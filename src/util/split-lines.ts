import type { Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';

/** Yields the lines of a stream (without the newline), decoding UTF-8 across chunk boundaries. */
export async function* splitLines(stream: Readable): AsyncGenerator<string> {
  const decoder = new StringDecoder('utf8');
  let rest = '';
  for await (const chunk of stream) {
    rest += typeof chunk === 'string' ? chunk : decoder.write(chunk as Buffer);
    let newline = rest.indexOf('\n');
    while (newline !== -1) {
      yield rest.slice(0, newline).replace(/\r$/, '');
      rest = rest.slice(newline + 1);
      newline = rest.indexOf('\n');
    }
  }
  rest += decoder.end();
  if (rest !== '') yield rest;
}
