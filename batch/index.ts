// The batch layer's public face.
export { Archiver } from './archiver.ts';
export { completeFiles, filesToRead, listMasterFiles, newestEventByPartition, partitionCoverage, sourceRoot, ARCHIVE_COLUMNS, type MasterFile } from './master-dataset.ts';
export { BatchViewReader, currentVersion, listVersions, readBatchView, recomputeView, type BatchManifest, type BatchReadQuery, type BatchRow } from './batch-views.ts';
export { compileView } from './compile-view.ts';
export { compactMasterDataset, planFolderCompaction, MAX_PARTS_PER_OPEN_DAY, type CompactionResult } from './compaction.ts';
export { checkMasterSchema } from './master-schema.ts';
export { currentDatasetFile, datasetRoot, listDatasetVersions, runSqlDataset, type DatasetManifest } from './datasets.ts';
