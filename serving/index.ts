// The serving layer's public face.
export { createServingApp, answerJson, sampleGraphQLQuery, type ServingApp, type ServingAppOptions } from './app.ts';
export { startServer, type RunningServer } from './server.ts';
export { buildViewSchema, fieldNameOf, typeNameOf } from './graphql/schema.ts';
export { parseViewQuery, queryLimits, LAYERS, type Layer, type ViewQuery, type ViewQueryInput } from './view-query.ts';
export { ViewReader, type Freshness, type ViewAnswer } from './view-reader.ts';
export { hashApiKey, newApiKey, type Principal } from './auth/authenticator.ts';
export { ServingKeys } from './serving-keys.ts';
export { answerColumns, type AnswerColumn, type ColumnType, type ColumnValue } from './export/answer-columns.ts';
export { answerArrowSchema, answerToArrow, ARROW_STREAM_MEDIA_TYPE } from './export/answer-arrow.ts';
export { answerTextRows, answerToCsv, CSV_MEDIA_TYPE } from './export/answer-csv.ts';
export { writeAnswerParquet } from './export/answer-parquet.ts';
export { answerFormatFor, ANSWER_MEDIA_TYPES, type AnswerFormat } from './export/answer-media-type.ts';
export { freshnessHeaders } from './export/freshness-headers.ts';
