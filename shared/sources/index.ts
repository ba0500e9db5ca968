export {
  defineSource,
  type DecodeResult,
  type EventOf,
  type FieldSpec,
  type FieldType,
  type Source,
  type SourceSpec,
} from './define-source.ts';
export { clickstream, type ClickstreamEvent } from './clickstream.ts';
export { builtInSources, getSource, registerSource, sourceNames } from './registry.ts';
