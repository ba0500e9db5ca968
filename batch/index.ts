// The batch layer's public face.
export { archiveGroup, Archiver } from './archiver.ts';
export { completeFiles, filesToRead, listMasterFiles, newestEventByPartition, partitionCoverage, sourceRoot, ARCHIVE_COLUMNS, type MasterFile } from './master-dataset.ts';
export { recomputeView } from './recompute.ts';
export { currentVersion, listVersions, type BatchManifest } from './view-versions.ts';
export { registerBatchViewMetrics } from './batch-view-metrics.ts';
export { BatchViewReader, readBatchView, type BatchReadQuery, type BatchRollUpQuery, type BatchRollUpRow, type BatchRow } from './batch-view-reader.ts';
export { compileView } from './compile-view.ts';
export { compactMasterDataset, planFolderCompaction, MAX_PARTS_PER_OPEN_DAY, type CompactionResult } from './compaction.ts';
export { checkMasterSchema } from './master-schema.ts';
export { currentDatasetFile, datasetRoot, listDatasetVersions, runSqlDataset, type DatasetManifest } from './datasets.ts';
