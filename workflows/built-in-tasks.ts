import { compactMasterDataset, completeFiles, filesToRead, listMasterFiles, newestEventByPartition, recomputeView, runSqlDataset } from '../batch/index.ts';
import type { Catalog } from '../shared/catalog/index.ts';
import { sourceSettings, type Config } from '../shared/config/index.ts';
import { DoNotRetry, type JsonValue, type TaskAction, type TaskContext } from './define-workflow.ts';

/** What a sensor answers: satisfied, or how far the data got (for its log). */
export interface SensorResult {
  readonly satisfied: boolean;
  readonly [key: string]: JsonValue;
}

/**
 * Runs one of Braid's built-in task kinds in a task thread: recompute a view for the interval, compact a source,
 * a SQL dataset, or a look of the `waitForData` sensor. (`command` runs in the worker process itself.)
 */
export async function runBuiltInTask(action: Exclude<TaskAction, { kind: 'function' }>, context: TaskContext, config: Config, catalog: () => Promise<Catalog>): Promise<JsonValue> {
  const { interval, logger } = context;
  switch (action.kind) {
    case 'recompute': {
      const view = (await catalog()).views.get(action.view);
      const manifest = await recomputeView({ config, view, interval: { startMs: interval.startMs, endMs: interval.endMs } });
      logger.info(`published ${view.name} v${manifest.version}`, { cutoff: new Date(manifest.cutoffMs).toISOString(), rows: manifest.rowCount, mode: manifest.mode });
      return { view: view.name, version: manifest.version, cutoff: new Date(manifest.cutoffMs).toISOString(), rows: manifest.rowCount, mode: manifest.mode };
    }
    case 'compact': {
      const source = (await catalog()).source(action.source);
      const results = await compactMasterDataset({ config, source });
      const files = filesToRead(listMasterFiles(config.dataDir, source.name).files).length;
      logger.info(`compacted ${source.name}: ${results.length} merges, ${files} files`);
      return { source: source.name, merges: results.length, files };
    }
    case 'sql': {
      const loaded = await catalog();
      const manifest = await runSqlDataset({
        config,
        sources: [...loaded.sources.values()].map((entry) => entry.source),
        views: [...loaded.views.views.values()],
        query: action.query,
        output: action.output,
        interval: { startMs: interval.startMs, endMs: interval.endMs },
        producedBy: `${context.run.id}/${context.task}`,
      });
      logger.info(`published dataset ${manifest.dataset} v${manifest.version}`, { rows: manifest.rowCount });
      return { dataset: manifest.dataset, version: manifest.version, rows: manifest.rowCount };
    }
    case 'waitForData': {
      const source = (await catalog()).source(action.source);
      const files = completeFiles(listMasterFiles(config.dataDir, source.name).files);
      const newest = [...newestEventByPartition(files).values()];
      const neededMs = interval.endMs + sourceSettings(config, source.name).maxOutOfOrdernessMs + action.latenessMs;
      const reachedMs = newest.length === 0 ? null : Math.min(...newest);
      const result: SensorResult = {
        satisfied: reachedMs !== null && reachedMs >= neededMs,
        source: source.name,
        needed: new Date(neededMs).toISOString(),
        reached: reachedMs === null ? null : new Date(reachedMs).toISOString(),
        partitions: newest.length,
      };
      return result;
    }
    case 'command':
      throw new DoNotRetry('a command runs in the worker process, not in a task thread');
    default: {
      const unknown: never = action;
      throw new DoNotRetry(`unknown task kind ${JSON.stringify(unknown)}`);
    }
  }
}
