// The speed layer's public face: the worker and the read API.
export { SpeedWorker, speedGroupId, type SpeedWorkerOptions } from './speed-worker.ts';
export { readSpeedView, speedProgress, speedWatermark, type SpeedProgress, type SpeedReadQuery, type SpeedReadResult, type SpeedRow, type SpeedViewSource } from './read-view.ts';
export { decodeGroupKey, type DimensionValue } from './group-key.ts';
