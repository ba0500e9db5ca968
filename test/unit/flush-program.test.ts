import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { RUN_WIDTH } from '../../speed/flush-program.ts';

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
});
