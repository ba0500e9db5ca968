import { measureFromData, measureToData, type MeasureData } from '../measures/index.ts';
import { defineSource, type FieldSpec, type Source } from '../sources/index.ts';
import type { Dimension, View } from './define-view.ts';
import type { ExprNode } from './expr/index.ts';
import type { WindowSpec } from './windows.ts';

/**
 * A view as plain data (structured-clone and JSON safe): what a view is, less
 * the functions its measures and source carry, which {@link viewFromData}
 * rebuilds. A view is declarative, so nothing is lost; this is how a view
 * crosses to another thread.
 */
export interface ViewData {
  readonly name: string;
  readonly description: string;
  readonly source: {
    readonly name: string;
    readonly topic: string;
    readonly description: string;
    readonly fields: Readonly<Record<string, FieldSpec>>;
    readonly timeField: string;
    readonly keyFields: readonly string[];
  };
  readonly dimensions: readonly Dimension[];
  readonly window: WindowSpec;
  readonly filter: ExprNode | undefined;
  readonly measures: ReadonlyArray<{ readonly name: string; readonly measure: MeasureData }>;
  readonly allowedLatenessMs: number;
  readonly retentionMs: number;
  readonly definitionHash: string;
}

export function viewToData(view: View): ViewData {
  const { source } = view;
  return {
    name: view.name,
    description: view.description,
    source: {
      name: source.name,
      topic: source.topic,
      description: source.description,
      fields: source.fields,
      timeField: source.timeField,
      keyFields: source.keyFields,
    },
    dimensions: view.dimensions,
    window: view.window,
    filter: view.filter,
    measures: view.measures.map(({ name, measure }) => ({ name, measure: measureToData(measure) })),
    allowedLatenessMs: view.allowedLatenessMs,
    retentionMs: view.retentionMs,
    definitionHash: view.definitionHash,
  };
}

/** Rebuilds views from {@link viewToData}; views on one source share one rebuilt source. */
export function viewsFromData(data: readonly ViewData[]): View[] {
  const sources = new Map<string, Source>();
  return data.map((view) => {
    let source = sources.get(view.source.name);
    if (source === undefined) {
      source = defineSource(view.source) as unknown as Source;
      sources.set(view.source.name, source);
    }
    return {
      name: view.name,
      source,
      description: view.description,
      dimensions: view.dimensions,
      window: view.window,
      filter: view.filter,
      measures: view.measures.map(({ name, measure }) => ({ name, measure: measureFromData(measure) })),
      allowedLatenessMs: view.allowedLatenessMs,
      retentionMs: view.retentionMs,
      definitionHash: view.definitionHash,
    };
  });
}
