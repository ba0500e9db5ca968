import { BraidError, ErrorCode } from '../errors/index.ts';
import { ClickstreamGenerator, type ClickstreamGeneratorOptions, type GeneratedMessage } from './clickstream-generator.ts';

/** A source's demo data generator: `next(baseTimeMs)` yields one message. */
export interface DemoGenerator {
  next(baseTimeMs: number): GeneratedMessage;
}

const GENERATORS: Record<string, (options: ClickstreamGeneratorOptions) => DemoGenerator> = {
  clickstream: (options) => new ClickstreamGenerator(options),
};

export function demoGeneratorNames(): string[] {
  return Object.keys(GENERATORS);
}

/** The demo generator of a source, by source name. */
export function demoGenerator(source: string, options: ClickstreamGeneratorOptions): DemoGenerator {
  const factory = GENERATORS[source];
  if (!factory) {
    throw new BraidError(ErrorCode.NOT_FOUND, `source "${source}" has no demo generator`, {
      fields: { source },
      hint: `sources with a generator: ${demoGeneratorNames().join(', ')}`,
    });
  }
  return factory(options);
}
