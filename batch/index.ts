// The batch layer's public face.
export { Archiver } from './archiver.ts';
export { completeFiles, listMasterFiles, partitionCoverage, sourceRoot, type MasterFile } from './master-dataset.ts';
