// The serving layer's public face.
export { createServingApp, answerJson, sampleGraphQLQuery, type ServingApp, type ServingAppOptions } from './app.ts';
export { startServer, type RunningServer } from './server.ts';
export { buildViewSchema, fieldNameOf, typeNameOf } from './graphql/schema.ts';
export { parseViewQuery, queryLimits, LAYERS, type Layer, type ViewQuery, type ViewQueryInput } from './view-query.ts';
export { ViewReader, type Freshness, type ViewAnswer } from './view-reader.ts';
export { hashApiKey, newApiKey, type Principal } from './auth/authenticator.ts';
export { ServingKeys } from './serving-keys.ts';
