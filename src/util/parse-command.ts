import { parse } from 'shell-quote';
import { ValidationError, describeValue } from '../errors/validation-error.js';

/** Index of the first quote that is never closed, or -1. Backslash escapes outside single quotes. */
function unbalancedQuoteAt(command: string): number {
  let quote: '"' | "'" | undefined;
  let openedAt = -1;
  for (let i = 0; i < command.length; i++) {
    const ch = command[i];
    if (ch === '\\' && quote !== "'") {
      i++;
      continue;
    }
    if (quote === undefined && (ch === '"' || ch === "'")) {
      quote = ch;
      openedAt = i;
    } else if (ch === quote) {
      quote = undefined;
    }
  }
  return quote === undefined ? -1 : openedAt;
}

/**
 * Splits a command string into argv the way a POSIX shell would (quotes and backslashes), without running a
 * shell: `$VAR` stays literal, globs are not expanded, and shell operators (`|`, `&&`, `>`...) are refused.
 */
export function parseCommand(command: string | readonly string[], field: string): string[] {
  if (Array.isArray(command)) {
    command.forEach((arg: unknown, index) => {
      if (typeof arg !== 'string') {
        throw new ValidationError(`${field}[${index}]`, arg, `Expected \`${field}[${index}]\` to be a string, got ${describeValue(arg)}.`);
      }
    });
    return [...command];
  }
  if (typeof command !== 'string') {
    throw new ValidationError(field, command, `Expected \`${field}\` to be a string or an array of strings, got ${describeValue(command)}.`);
  }
  const quoteAt = unbalancedQuoteAt(command);
  if (quoteAt !== -1) {
    throw new ValidationError(
      field,
      command,
      `\`${field}\` has an unbalanced ${command[quoteAt]} quote at position ${quoteAt}: ${describeValue(command)}. Close the quote or pass the arguments as an array.`,
    );
  }
  return parse(command, (name) => `$${name}`).map((token) => {
    if (typeof token === 'string') return token;
    if ('pattern' in token) return token.pattern;
    if ('comment' in token) {
      throw new ValidationError(field, command, `\`${field}\` contains a comment (#${token.comment}); quote the # or pass the arguments as an array.`);
    }
    throw new ValidationError(
      field,
      command,
      `\`${field}\` contains the shell operator '${token.op}', but commands run without a shell. Pass ['sh', '-c', '...'] to use a shell.`,
    );
  });
}
