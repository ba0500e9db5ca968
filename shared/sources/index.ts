export {
  defineSource,
  isSource,
  parseMessage,
  sourceSpecProblems,
  type DecodeResult,
  type EventOf,
  type FieldSpec,
  type FieldType,
  type Source,
  type SourceSpec,
  type EpochUnit,
} from './define-source.ts';
export { clickstream, type ClickstreamEvent } from './clickstream.ts';
export { getSource, registerSource, sourceNames, useSources } from './registry.ts';
