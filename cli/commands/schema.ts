import { writeFileSync } from 'node:fs';
import { Command } from 'commander';
import { printSchema } from 'graphql';
import { BraidError, ErrorCode } from '../../shared/errors/index.ts';
import { buildViewSchema } from '../../serving/index.ts';
import { configFor, say, catalogFor } from '../context.ts';

const NOT_SERVING = () => {
  throw new BraidError(ErrorCode.INTERNAL, 'the exported schema does not answer queries');
};

export function schemaCommand(): Command {
  return new Command('schema')
    .description('export the GraphQL schema generated from the view definitions (SDL)')
    .option('-o, --out <file>', 'file to write; - for standard output', 'schema.graphql')
    .action(async (options: { out: string }, command: Command) => {
      const config = configFor(command);
      const views = (await catalogFor(config)).views;
      const sdl = `${printSchema(buildViewSchema([...views.views.values()], { answer: NOT_SERVING, watch: NOT_SERVING, readable: NOT_SERVING }))}\n`;
      if (options.out === '-') {
        process.stdout.write(sdl);
        return;
      }
      writeFileSync(options.out, sdl);
      say(`wrote the schema of ${views.views.size} views to ${options.out}`);
    });
}
