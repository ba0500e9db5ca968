import { CommanderError } from 'commander';
import { describe, expect, it } from 'vitest';
import { buildProgram } from '../../cli/main.ts';
import { loadConfig } from '../../shared/config/index.ts';
import { BraidError, ErrorCode } from '../../shared/errors/index.ts';
import { createLogger, resolveLogFormat, type LogFormat } from '../../shared/logging/index.ts';

/** A destination that keeps what is written, and says whether it is a terminal. */
function capture(options: { isTTY?: boolean; colors?: boolean } = {}) {
  const written: string[] = [];
  return {
    written,
    lines: () => written.join('').split('\n').filter(Boolean),
    ...(options.isTTY === undefined ? {} : { isTTY: options.isTTY }),
    hasColors: () => options.colors ?? false,
    write(text: string) {
      written.push(text);
    },
  };
}

const parses = (line: string) => {
  try {
    JSON.parse(line);
    return true;
  } catch {
    return false;
  }
};

describe('log format', () => {
  it('auto is pretty on a terminal and JSON on anything else; json and pretty are taken as given', () => {
    expect(resolveLogFormat('auto', { isTTY: true })).toBe('pretty');
    expect(resolveLogFormat('auto', { isTTY: false })).toBe('json');
    expect(resolveLogFormat('auto', {})).toBe('json');
    expect(resolveLogFormat('json', { isTTY: true })).toBe('json');
    expect(resolveLogFormat('pretty', { isTTY: false })).toBe('pretty');
  });

  it('json writes one parseable object a line, with level, name and message', () => {
    const out = capture({ isTTY: false });
    const log = createLogger({ level: 'info', name: 'speed', format: 'json', destination: out });
    log.info({ partitions: [0, 1] }, 'partitions assigned');
    log.warn('flush failed; retrying');
    log.debug('below the level');
    const lines = out.lines().map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatchObject({ level: 'info', name: 'speed', msg: 'partitions assigned', partitions: [0, 1] });
    expect(lines[1]).toMatchObject({ level: 'warn', msg: 'flush failed; retrying' });
    expect(typeof lines[0]!.time).toBe('string');
  });

  it('pretty writes human lines, not JSON: time, level, name, message and fields on one line', () => {
    const out = capture({ isTTY: false });
    const log = createLogger({ level: 'info', name: 'speed', format: 'pretty', destination: out });
    log.info({ partitions: [0, 1] }, 'partitions assigned');
    log.warn('flush failed; retrying');
    const lines = out.lines();
    expect(lines).toHaveLength(2);
    for (const line of lines) expect(parses(line), line).toBe(false);
    expect(lines[0]).toMatch(/^\[\d{2}:\d{2}:\d{2}\.\d{3}\] INFO \(speed\): partitions assigned \{"partitions":\[0,1\]\}$/);
    expect(lines[1]).toMatch(/^\[\d{2}:\d{2}:\d{2}\.\d{3}\] WARN \(speed\): flush failed; retrying$/);
    expect(out.written.join('')).not.toMatch(/\u001b\[/);
  });

  it('auto follows the destination: pretty and coloured on a colour terminal, JSON on a pipe', () => {
    const terminal = capture({ isTTY: true, colors: true });
    createLogger({ level: 'info', name: 'dev', destination: terminal }).info('on a terminal');
    expect(parses(terminal.lines()[0]!)).toBe(false);
    expect(terminal.written.join('')).toMatch(/\u001b\[\d+mINFO\u001b\[\d+m/);
    const pipe = capture({ isTTY: false });
    createLogger({ level: 'info', name: 'dev', destination: pipe }).info('on a pipe');
    expect(JSON.parse(pipe.lines()[0]!)).toMatchObject({ msg: 'on a pipe' });
  });

  it('pretty lines are written in the caller\'s turn, so they stay whole and in order between a command\'s own lines', () => {
    const out = capture({ isTTY: false });
    const log = createLogger({ level: 'info', name: 'dev', format: 'pretty', destination: out });
    out.write('[dev] in 100 ev/s · watermark lag 5.8 s\n');
    log.info('published a batch version');
    out.write('[dev] in 101 ev/s · watermark lag 5.7 s\n');
    const lines = out.lines();
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(/^\[dev\] in 100/);
    expect(lines[1]).toMatch(/INFO \(dev\): published a batch version$/);
    expect(lines[2]).toMatch(/^\[dev\] in 101/);
  });
});

describe('log.format in configuration', () => {
  const env = (extra: Record<string, string> = {}) => ({ KAFKA_BROKERS: '127.0.0.1:1', ...extra });

  it('defaults to auto; BRAID_LOG_FORMAT sets it and the command line overrides both', () => {
    expect(loadConfig({ env: env(), cwd: '/' }).log.format).toBe('auto');
    expect(loadConfig({ env: env({ BRAID_LOG_FORMAT: 'json' }), cwd: '/' }).log.format).toBe('json');
    expect(loadConfig({ env: env({ BRAID_LOG_FORMAT: 'json' }), cwd: '/', overrides: { 'log.format': 'pretty' } }).log.format).toBe('pretty');
  });

  it('a bad value fails naming log.format, where it came from and the values it takes', () => {
    let thrown: unknown;
    try {
      loadConfig({ env: env({ BRAID_LOG_FORMAT: 'xml' }), cwd: '/' });
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(BraidError);
    expect((thrown as BraidError).code).toBe(ErrorCode.CONFIG_INVALID);
    expect((thrown as BraidError).message).toMatch(/log\.format \(from env BRAID_LOG_FORMAT\): .*"auto"\|"json"\|"pretty"/);
  });
});

describe('--log-format', () => {
  /** The program, its error output kept, and the log format the config of a command run with `args` holds. */
  async function run(args: string[]): Promise<{ format?: LogFormat; error?: CommanderError; errorOutput: string }> {
    const program = buildProgram();
    const result: { format?: LogFormat; error?: CommanderError; errorOutput: string } = { errorOutput: '' };
    program.configureOutput({ writeErr: (text) => (result.errorOutput += text), writeOut: () => undefined });
    program.hook('preAction', (_root, action) => {
      result.format = action.optsWithGlobals<{ logFormat?: LogFormat }>().logFormat;
      throw new CommanderError(0, 'test.stop', 'stopped before the action');
    });
    try {
      await program.parseAsync(['node', 'braid', ...args]);
    } catch (error) {
      if ((error as CommanderError).code !== 'test.stop') result.error = error as CommanderError;
    }
    return result;
  }

  it('is accepted before or after the command', async () => {
    expect((await run(['--log-format', 'json', 'views'])).format).toBe('json');
    expect((await run(['views', '--log-format', 'pretty'])).format).toBe('pretty');
    expect((await run(['views'])).format).toBeUndefined();
  });

  it('refuses another value with one line naming the option and its choices, no stack trace', async () => {
    const { error, errorOutput } = await run(['--log-format', 'xml', 'views']);
    expect(error?.code).toBe('commander.invalidArgument');
    expect(errorOutput).toMatch(/^error: option '--log-format <format>' argument 'xml' is invalid\. Allowed choices are auto, json, pretty\.\n/);
    expect(errorOutput).not.toMatch(/\n\s+at /);
  });
});
