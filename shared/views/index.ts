export * from './expr.ts';
export { alignDown, describeWindow, session, sliding, tumbling, windowSizeMs, windowStartsFor, type WindowSpec } from './windows.ts';
export { defineView, describeView, isView, type Dimension, type DimensionInput, type NamedMeasure, type View, type ViewSpec } from './define-view.ts';
export { countryMinutes, demoViews, pageViews, userSessions } from './demo-views.ts';
export { viewRegistryOf, type ViewRegistry } from './view-registry.ts';
export { viewsFromData, viewToData, type ViewData } from './view-data.ts';
