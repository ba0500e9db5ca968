import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { FlushProgram, RUN_WIDTH } from '../../speed/flush-program.ts';
import { opsOf, runsOf } from '../harness/flush-ops.ts';
import { keys } from './helpers/windows.ts';

describe('the flush program', () => {
  it("gives each opcode the width the flush script reads it with (speed/lua/flush-partitions.lua's WIDTH)", () => {
    const lua = readFileSync(new URL('../../speed/lua/flush-partitions.lua', import.meta.url), 'utf8');
    const table = /^local WIDTH = \{(.*)\}$/m.exec(lua)?.[1];
    expect(table, 'a `local WIDTH = {…}` line in the script').toBeDefined();
    const widths = Object.fromEntries(
      table!.split(',').map((entry) => {
        const [key, value] = entry.split('=').map((part) => part.trim());
        return [key!.replace(/^\['(.)'\]$/, '$1'), Number(value)];
      }),
    );
    expect(widths).toEqual(RUN_WIDTH);
  });

  it('every PEXPIRE comes after the writes, once per key (the longest asked for)', () => {
    const program = new FlushProgram(keys.partitions('g'));
    // As two partitions' operators write one after the other: sketch, its TTL, then the window hash.
    program.hSetBytes('t:h', 't:0\x1fa', Buffer.from([0x50]));
    program.pExpire('t:h', 60_000);
    program.incrBy('t:w', 'a|views', 2);
    program.pExpire('t:w', 60_000);
    program.hSetBytes('t:h', 't:1\x1fa', Buffer.from([0x50]));
    program.pExpire('t:h', 90_000);
    program.incrBy('t:w', 'a|views', 1);
    program.pExpire('t:w', 60_000);
    expect(program.size).toBe(4 + 2);
    expect(opsOf(program)).toEqual([
      { code: 'S', key: 't:h', args: ['t:0\x1fa', 'P'] },
      { code: 'I', key: 't:w', args: ['a|views', '2'] },
      { code: 'S', key: 't:h', args: ['t:1\x1fa', 'P'] },
      { code: 'I', key: 't:w', args: ['a|views', '1'] },
      { code: 'T', key: 't:h', args: ['90000'] },
      { code: 'T', key: 't:w', args: ['60000'] },
    ]);
    expect(runsOf(program).map((run) => run.code)).toEqual(['S', 'I', 'S', 'I', 'T']);
  });
});
