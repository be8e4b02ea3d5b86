/**
 * A tiny `sh -c` interpreter for the in-memory backend of the conformance suite: the suite writes each job once,
 * as a shell script, and the in-memory runtime runs it with this instead of a container.
 *
 * It knows a deliberately small subset and refuses (throws `UnsupportedScriptError`) everything else, so a
 * scenario can never pass on the in-memory backend by accident of a half-understood script:
 * - lists with `;`, newlines, `&&`, `||`; `if LIST; then LIST; [else LIST;] fi`
 * - words with '...', "..." (with `$VAR` / `${VAR}`), `$VAR`, backslash escapes; `#` comments
 * - redirections `> file`, `>> file`, `>&2`, `2> file` (`/dev/null` discards)
 * - commands: echo [-n], cat FILE..., exit [N], sleep SECONDS, id [-u|-g], pwd, true, false, mkdir -p DIR...,
 *   test / [ with -e, -f, -d
 *
 * The in-memory runtime prints a process's whole output when it starts and ends it after `durationMs`, so a
 * script may not print or write anything after a `sleep` (that is refused too): `echo up; sleep 30` is fine,
 * `sleep 1; echo done` is not.
 */

/** What the script sees of the container's file system (paths are absolute). */
export interface ShellFileSystem {
  /** The content of a file, or undefined when there is no file there. */
  readFile(path: string): Buffer | undefined;
  isDirectory(path: string): boolean;
  /** Writes (or appends to) a file; throws a message for the shell's stderr when it cannot. */
  writeFile(path: string, data: Buffer, isAppend: boolean): void;
  makeDirectory(path: string): void;
}

export interface ShellContext {
  env: Readonly<Record<string, string>>;
  uid: number;
  gid: number;
  cwd: string;
  fs: ShellFileSystem;
}

/** What the script did: its output, exit code and how long it ran. */
export interface ShellOutcome {
  stdout: string;
  stderr: string;
  exitCode: number;
  durationMs: number;
}

/** The script uses something this interpreter does not implement. */
export class UnsupportedScriptError extends Error {
  constructor(what: string, script: string) {
    super(`The conformance fake shell cannot run ${what} (script: ${JSON.stringify(script)}). Keep in-memory scenarios to the subset in __tests__/helpers/fake-shell.ts.`);
    this.name = 'UnsupportedScriptError';
  }
}

type WordPart = { text: string } | { variable: string };
type Token = { kind: 'word'; parts: WordPart[]; raw: string; isQuoted: boolean } | { kind: 'op'; op: ';' | '&&' | '||' | '>' | '>>' | '>&2' | '2>' | '2>>' };

interface Redirect {
  op: '>' | '>>' | '>&2' | '2>' | '2>>';
  target?: Extract<Token, { kind: 'word' }>;
}
type Command =
  | { kind: 'simple'; words: Array<Extract<Token, { kind: 'word' }>>; redirects: Redirect[] }
  | { kind: 'if'; condition: List; then: List; otherwise: List | undefined };
type AndOr = { first: Command; rest: Array<{ op: '&&' | '||'; command: Command }> };
type List = AndOr[];

const KEYWORDS = new Set(['if', 'then', 'else', 'fi']);

function tokenize(script: string): Token[] {
  const tokens: Token[] = [];
  let parts: WordPart[] | undefined;
  let raw = '';
  let isQuoted = false;
  const text = (t: string): void => {
    parts ??= [];
    const last = parts.at(-1);
    if (last && 'text' in last) last.text += t;
    else parts.push({ text: t });
  };
  const endWord = (): void => {
    if (parts !== undefined) tokens.push({ kind: 'word', parts, raw, isQuoted });
    parts = undefined;
    raw = '';
    isQuoted = false;
  };
  const readVariable = (i: number): { name: string; next: number } => {
    // script[i] is '$'
    if (script[i + 1] === '{') {
      const close = script.indexOf('}', i + 2);
      if (close === -1) throw new UnsupportedScriptError('an unclosed ${', script);
      return { name: script.slice(i + 2, close), next: close + 1 };
    }
    const match = /^[A-Za-z_][A-Za-z0-9_]*/.exec(script.slice(i + 1));
    if (!match) throw new UnsupportedScriptError(`'$${script[i + 1] ?? ''}' (only $NAME and \${NAME} are known)`, script);
    return { name: match[0], next: i + 1 + match[0].length };
  };
  let i = 0;
  while (i < script.length) {
    const c = script[i] as string;
    if (c === ' ' || c === '\t') {
      endWord();
      i += 1;
    } else if (c === '\n' || c === ';') {
      endWord();
      tokens.push({ kind: 'op', op: ';' });
      i += 1;
    } else if (c === '&' || c === '|') {
      endWord();
      if (script[i + 1] !== c) throw new UnsupportedScriptError(c === '|' ? 'a pipe' : 'a background job', script);
      tokens.push({ kind: 'op', op: c === '&' ? '&&' : '||' });
      i += 2;
    } else if (c === '>') {
      const isStderr = raw === '2' && parts !== undefined && !isQuoted;
      if (isStderr) {
        parts = undefined;
        raw = '';
      } else {
        endWord();
      }
      if (script.startsWith('>&2', i) && !isStderr) {
        tokens.push({ kind: 'op', op: '>&2' });
        i += 3;
      } else if (script[i + 1] === '>') {
        tokens.push({ kind: 'op', op: isStderr ? '2>>' : '>>' });
        i += 2;
      } else if (script[i + 1] === '&') {
        throw new UnsupportedScriptError('a descriptor redirection other than >&2', script);
      } else {
        tokens.push({ kind: 'op', op: isStderr ? '2>' : '>' });
        i += 1;
      }
    } else if (c === '#' && parts === undefined) {
      while (i < script.length && script[i] !== '\n') i += 1;
    } else if (c === "'") {
      const close = script.indexOf("'", i + 1);
      if (close === -1) throw new UnsupportedScriptError('an unclosed quote', script);
      text(script.slice(i + 1, close));
      raw += script.slice(i, close + 1);
      isQuoted = true;
      i = close + 1;
    } else if (c === '"') {
      parts ??= [];
      isQuoted = true;
      let j = i + 1;
      for (;;) {
        if (j >= script.length) throw new UnsupportedScriptError('an unclosed quote', script);
        const d = script[j] as string;
        if (d === '"') break;
        if (d === '\\' && ['"', '\\', '$', '`'].includes(script[j + 1] ?? '')) {
          text(script[j + 1] as string);
          j += 2;
        } else if (d === '$') {
          const { name, next } = readVariable(j);
          parts.push({ variable: name });
          j = next;
        } else if (d === '`') {
          throw new UnsupportedScriptError('a command substitution', script);
        } else {
          text(d);
          j += 1;
        }
      }
      raw += script.slice(i, j + 1);
      i = j + 1;
    } else if (c === '$') {
      if (script[i + 1] === '(') throw new UnsupportedScriptError('a command substitution', script);
      const { name, next } = readVariable(i);
      parts ??= [];
      parts.push({ variable: name });
      raw += script.slice(i, next);
      i = next;
    } else if (c === '\\') {
      text(script[i + 1] ?? '');
      raw += script.slice(i, i + 2);
      isQuoted = true;
      i += 2;
    } else if ('`(){}<*?'.includes(c)) {
      throw new UnsupportedScriptError(`'${c}'`, script);
    } else {
      text(c);
      raw += c;
      i += 1;
    }
  }
  endWord();
  return tokens;
}

class Parser {
  private position = 0;

  constructor(
    private readonly tokens: Token[],
    private readonly script: string,
  ) {}

  parse(): List {
    const list = this.list(new Set());
    if (this.position < this.tokens.length) throw new UnsupportedScriptError(`'${this.describe(this.tokens[this.position])}' here`, this.script);
    return list;
  }

  private describe(token: Token | undefined): string {
    if (!token) return 'the end';
    return token.kind === 'op' ? token.op : token.raw;
  }

  private peekKeyword(): string | undefined {
    const token = this.tokens[this.position];
    return token?.kind === 'word' && !token.isQuoted && KEYWORDS.has(token.raw) ? token.raw : undefined;
  }

  private list(stops: ReadonlySet<string>): List {
    const list: List = [];
    for (;;) {
      while (this.tokens[this.position]?.kind === 'op' && (this.tokens[this.position] as { op: string }).op === ';') this.position += 1;
      if (this.position >= this.tokens.length) return list;
      const keyword = this.peekKeyword();
      if (keyword !== undefined && stops.has(keyword)) return list;
      list.push(this.andOr());
    }
  }

  private andOr(): AndOr {
    const first = this.command();
    const rest: AndOr['rest'] = [];
    for (;;) {
      const token = this.tokens[this.position];
      if (token?.kind !== 'op' || (token.op !== '&&' && token.op !== '||')) return { first, rest };
      this.position += 1;
      rest.push({ op: token.op, command: this.command() });
    }
  }

  private expectKeyword(keyword: string): void {
    if (this.peekKeyword() !== keyword) throw new UnsupportedScriptError(`'${this.describe(this.tokens[this.position])}' where '${keyword}' belongs`, this.script);
    this.position += 1;
  }

  private command(): Command {
    const keyword = this.peekKeyword();
    if (keyword === 'if') {
      this.position += 1;
      const condition = this.list(new Set(['then']));
      this.expectKeyword('then');
      const then = this.list(new Set(['else', 'fi']));
      let otherwise: List | undefined;
      if (this.peekKeyword() === 'else') {
        this.position += 1;
        otherwise = this.list(new Set(['fi']));
      }
      this.expectKeyword('fi');
      return { kind: 'if', condition, then, otherwise };
    }
    if (keyword !== undefined) throw new UnsupportedScriptError(`'${keyword}' here`, this.script);
    const words: Array<Extract<Token, { kind: 'word' }>> = [];
    const redirects: Redirect[] = [];
    for (;;) {
      const token = this.tokens[this.position];
      if (!token) break;
      if (token.kind === 'word') {
        words.push(token);
        this.position += 1;
        continue;
      }
      if (token.op === ';' || token.op === '&&' || token.op === '||') break;
      this.position += 1;
      if (token.op === '>&2') {
        redirects.push({ op: token.op });
        continue;
      }
      const target = this.tokens[this.position];
      if (target?.kind !== 'word') throw new UnsupportedScriptError(`a redirection without a file`, this.script);
      this.position += 1;
      redirects.push({ op: token.op, target });
    }
    if (words.length === 0) throw new UnsupportedScriptError('an empty command', this.script);
    return { kind: 'simple', words, redirects };
  }
}

class ExitSignal {
  constructor(readonly code: number) {}
}

/** Runs a script and returns what it printed, its exit code and how long it slept. */
export function runScript(script: string, context: ShellContext): ShellOutcome {
  const list = new Parser(tokenize(script), script).parse();
  const out = { stdout: '', stderr: '' };
  let durationMs = 0;
  let hasSlept = false;
  let status = 0;

  const resolve = (file: string): string => {
    const joined = file.startsWith('/') ? file : `${context.cwd.replace(/\/$/, '')}/${file}`;
    const parts: string[] = [];
    for (const part of joined.split('/')) {
      if (part === '' || part === '.') continue;
      if (part === '..') parts.pop();
      else parts.push(part);
    }
    return `/${parts.join('/')}`;
  };
  const expand = (word: Extract<Token, { kind: 'word' }>): string => word.parts.map((p) => ('text' in p ? p.text : (context.env[p.variable] ?? ''))).join('');
  const sideEffect = (what: string): void => {
    if (hasSlept) throw new UnsupportedScriptError(`${what} after a sleep (the in-memory runtime prints a process's output when it starts)`, script);
  };

  const runSimple = (command: Extract<Command, { kind: 'simple' }>): number => {
    const [name = '', ...args] = command.words.map(expand);
    const output = { stdout: '', stderr: '' };
    let code = 0;
    switch (name) {
      case 'echo': {
        const isNoNewline = args[0] === '-n';
        output.stdout = `${(isNoNewline ? args.slice(1) : args).join(' ')}${isNoNewline ? '' : '\n'}`;
        break;
      }
      case 'cat': {
        if (args.length === 0) throw new UnsupportedScriptError('cat without files (stdin)', script);
        for (const file of args) {
          const content = context.fs.readFile(resolve(file));
          if (content === undefined) {
            output.stderr += `cat: can't open '${file}': No such file or directory\n`;
            code = 1;
          } else {
            output.stdout += content.toString('utf8');
          }
        }
        break;
      }
      case 'exit': {
        const exitCode = args[0] === undefined ? status : Number(args[0]);
        if (!Number.isInteger(exitCode)) throw new UnsupportedScriptError(`exit ${args[0]}`, script);
        throw new ExitSignal(exitCode & 0xff);
      }
      case 'sleep': {
        const seconds = Number(args[0]);
        if (args.length !== 1 || !Number.isFinite(seconds) || seconds < 0) throw new UnsupportedScriptError(`sleep ${args.join(' ')}`, script);
        durationMs += seconds * 1000;
        hasSlept = true;
        break;
      }
      case 'id':
        if (args.length === 0) output.stdout = `uid=${context.uid} gid=${context.gid}\n`;
        else if (args.length === 1 && args[0] === '-u') output.stdout = `${context.uid}\n`;
        else if (args.length === 1 && args[0] === '-g') output.stdout = `${context.gid}\n`;
        else throw new UnsupportedScriptError(`id ${args.join(' ')}`, script);
        break;
      case 'pwd':
        output.stdout = `${context.cwd}\n`;
        break;
      case 'true':
        break;
      case 'false':
        code = 1;
        break;
      case 'mkdir': {
        if (args[0] !== '-p' || args.length < 2) throw new UnsupportedScriptError(`mkdir ${args.join(' ')} (only mkdir -p)`, script);
        sideEffect('mkdir');
        for (const dir of args.slice(1)) context.fs.makeDirectory(resolve(dir));
        break;
      }
      case 'test':
      case '[': {
        const operands = name === '[' ? args.slice(0, -1) : args;
        if (name === '[' && args.at(-1) !== ']') throw new UnsupportedScriptError("'[' without ']'", script);
        const [flag, file] = operands;
        if (operands.length !== 2 || !['-e', '-f', '-d'].includes(flag ?? '')) throw new UnsupportedScriptError(`test ${operands.join(' ')} (only -e, -f, -d)`, script);
        const target = resolve(file ?? '');
        const isDirectory = context.fs.isDirectory(target);
        const isFile = context.fs.readFile(target) !== undefined;
        code = (flag === '-d' ? isDirectory : flag === '-f' ? isFile : isDirectory || isFile) ? 0 : 1;
        break;
      }
      default:
        throw new UnsupportedScriptError(`the command '${name}'`, script);
    }
    // Redirections, in order: a later one for the same stream wins, as in sh for these simple cases.
    let stdoutTo: { file: string; isAppend: boolean } | 'stderr' | undefined;
    let stderrTo: { file: string; isAppend: boolean } | undefined;
    for (const redirect of command.redirects) {
      if (redirect.op === '>&2') stdoutTo = 'stderr';
      else if (redirect.op === '>' || redirect.op === '>>') stdoutTo = { file: resolve(expand(redirect.target!)), isAppend: redirect.op === '>>' };
      else stderrTo = { file: resolve(expand(redirect.target!)), isAppend: redirect.op === '2>>' };
    }
    const write = (to: { file: string; isAppend: boolean }, text: string): boolean => {
      if (to.file === '/dev/null') return true;
      sideEffect(`writing ${to.file}`);
      try {
        context.fs.writeFile(to.file, Buffer.from(text), to.isAppend);
        return true;
      } catch (error) {
        out.stderr += `sh: can't create ${to.file}: ${(error as Error).message}\n`;
        return false;
      }
    };
    if (stdoutTo === 'stderr') output.stderr = output.stdout + output.stderr;
    else if (stdoutTo !== undefined && !write(stdoutTo, output.stdout)) return 1;
    if (stdoutTo !== undefined) output.stdout = '';
    if (stderrTo !== undefined) {
      if (!write(stderrTo, output.stderr)) return 1;
      output.stderr = '';
    }
    if (output.stdout !== '' || output.stderr !== '') sideEffect('output');
    out.stdout += output.stdout;
    out.stderr += output.stderr;
    return code;
  };

  const runCommand = (command: Command): number => {
    if (command.kind === 'simple') return runSimple(command);
    if (runList(command.condition) === 0) return runList(command.then);
    return command.otherwise ? runList(command.otherwise) : 0;
  };
  const runList = (items: List): number => {
    for (const item of items) {
      status = runCommand(item.first);
      for (const { op, command } of item.rest) {
        if ((op === '&&' && status === 0) || (op === '||' && status !== 0)) status = runCommand(command);
      }
    }
    return status;
  };

  let exitCode: number;
  try {
    exitCode = runList(list);
  } catch (error) {
    if (!(error instanceof ExitSignal)) throw error;
    exitCode = error.code;
  }
  return { ...out, exitCode, durationMs };
}
