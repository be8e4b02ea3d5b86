import { ValidationError } from '../../src/index.js';
import { parseCommand } from '../../src/util/parse-command.js';
import { parseMemory } from '../../src/util/parse-memory.js';

describe('parseCommand', () => {
  test.each([
    ['-o /mnt/data -r 1 -i 100', ['-o', '/mnt/data', '-r', '1', '-i', '100']],
    [`--title "two words" --path 'a b'`, ['--title', 'two words', '--path', 'a b']],
    ['escaped\\ space', ['escaped space']],
    ['--glob *.txt --var $HOME', ['--glob', '*.txt', '--var', '$HOME']],
    ['  ', []],
  ])('%s', (command, argv) => {
    expect(parseCommand(command, 'command')).toEqual(argv);
  });

  test('an array is taken as argv, unchanged', () => {
    expect(parseCommand(['sh', '-c', 'echo "$A" | wc'], 'command')).toEqual(['sh', '-c', 'echo "$A" | wc']);
  });

  test.each([
    ['run "unclosed', /unbalanced " quote at position 4/],
    ["it's", /unbalanced ' quote/],
    ['a && b', /shell operator '&&'.*\['sh', '-c'/],
    ['a > out.txt', /shell operator '>'/],
    ['a # note', /comment/],
  ])('%s is refused', (command, message) => {
    expect(() => parseCommand(command, 'jobs[J].command')).toThrow(message);
    expect(() => parseCommand(command, 'jobs[J].command')).toThrow(ValidationError);
  });
});

describe('parseMemory', () => {
  test.each([
    [512 * 1024 * 1024, 512 * 1024 * 1024],
    ['512m', 512 * 1024 ** 2],
    ['2g', 2 * 1024 ** 3],
    ['1.5G', 1.5 * 1024 ** 3],
    ['256MiB', 256 * 1024 ** 2],
    ['64mb', 64 * 1024 ** 2],
  ])('%s', (value, bytes) => {
    expect(parseMemory(value, 'memory')).toBe(bytes);
  });

  test.each(['lots', '-1g', '', '1q', 0, -5, 1.5, Number.NaN, '1k'])('%s is refused', (value) => {
    expect(() => parseMemory(value, 'memory')).toThrow(ValidationError);
  });
});
