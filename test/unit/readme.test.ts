import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ConfigSchema, ENV_VARS } from '../../shared/config/index.ts';
import { buildProgram } from '../../cli/main.ts';

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

// The README is the front door; these keep its reference sections true.
describe('README', () => {
  it('documents every environment variable Braid reads, with its key', () => {
    for (const envVar of ENV_VARS) {
      const row = readme.split('\n').find((line) => line.startsWith('| `') && !line.startsWith('| `npx') && line.includes(`\`${envVar.name}\``));
      expect(row, envVar.name).toBeDefined();
      expect(row, envVar.name).toContain(`\`${envVar.path.join('.')}`);
    }
  });

  it('documents every top-level config section', () => {
    for (const key of Object.keys(ConfigSchema.shape)) expect(readme).toMatch(new RegExp(`\`${key}[.\`]`));
  });

  it('documents every CLI command and the two set-up commands', () => {
    for (const command of buildProgram().commands) expect(readme).toContain(`npx braid ${command.name()}`);
    expect(readme).toContain('npm start');
    expect(readme).toContain('npm test');
  });
});
