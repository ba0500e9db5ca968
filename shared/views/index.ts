export * from './expr/index.ts';
export {
  alignDown,
  describeWindow,
  isCalendarWindow,
  session,
  sliding,
  tumbling,
  windowEndFor,
  windowSizeMs,
  windowSpanMs,
  windowStartGranularity,
  windowStartsFor,
  type CalendarWindowSpec,
  type TumblingOptions,
  type WindowSpec,
} from './windows.ts';
export { defineView, describeView, isView, type Dimension, type DimensionInput, type NamedMeasure, type View, type ViewSpec } from './define-view.ts';
export { countryMinutes, demoViews, pageViews, userSessions } from './demo-views.ts';
export { viewRegistryOf, type ViewRegistry } from './view-registry.ts';
export { viewsFromData, viewToData, type ViewData } from './view-data.ts';
