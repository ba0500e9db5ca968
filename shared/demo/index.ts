export { ClickstreamGenerator, type ClickstreamGeneratorOptions, type GeneratedMessage, type MessageKind } from './clickstream-generator.ts';
export { demoGenerator, demoGeneratorNames, type DemoGenerator } from './generators.ts';
export { WeightedChoice, zipfWeights } from './weighted.ts';
export { produceDemo, type DemoProgress, type ProduceDemoOptions } from './produce-demo.ts';
