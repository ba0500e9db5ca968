import type { Catalog } from '../shared/catalog/index.ts';
import { importUserModules } from '../shared/catalog/index.ts';
import type { Config } from '../shared/config/index.ts';
import { BraidError, ErrorCode } from '../shared/errors/index.ts';
import { isWorkflow, type Workflow } from './define-workflow.ts';
import { RECOMPUTE_WORKFLOW, recomputeWorkflow } from './recompute-workflow.ts';

/** A workflow and the module that defines it (none for Braid's own `recompute`, built from the catalog). */
export interface WorkflowEntry {
  readonly workflow: Workflow;
  readonly file: string | undefined;
}

export interface WorkflowCatalog {
  readonly workflows: ReadonlyMap<string, WorkflowEntry>;
  /** A workflow by name; an unknown name is a NOT_FOUND error listing the known ones. */
  get(name: string): WorkflowEntry;
}

/**
 * The workflows every workflow command works on: Braid's own `recompute` (unless `workflows.recompute.enabled`
 * is off, or no source has views) and every `defineWorkflow(...)` exported by a module of `workflows.dir`. What
 * the tasks name is checked against the catalog: views to recompute, sources to compact or wait for, pools that
 * are configured, dataset names that do not hide a source or a view.
 */
export async function loadWorkflows(config: Config, catalog: Catalog): Promise<WorkflowCatalog> {
  const entries = new Map<string, WorkflowEntry>();
  const origin = (entry: WorkflowEntry) => entry.file ?? "Braid's own recompute workflow";
  const add = (entry: WorkflowEntry) => {
    const known = entries.get(entry.workflow.name);
    if (known && known.workflow !== entry.workflow) {
      throw new BraidError(ErrorCode.CONFIG_INVALID, `workflow ${entry.workflow.name} is defined twice: in ${origin(known)} and in ${origin(entry)}`, {
        fields: { workflow: entry.workflow.name },
        hint: entry.workflow.name === RECOMPUTE_WORKFLOW ? 'rename yours, or turn Braid\'s off with workflows.recompute.enabled: false' : 'give one of them another name',
      });
    }
    if (!known) entries.set(entry.workflow.name, entry);
  };
  if (config.workflows.recompute.enabled && [...catalog.views.views.values()].length > 0) add({ workflow: recomputeWorkflow(config, catalog), file: undefined });
  for (const module of await importUserModules(config.workflows.dir)) {
    for (const value of module.exports) if (isWorkflow(value)) add({ workflow: value, file: module.file });
  }
  for (const entry of entries.values()) checkReferences(entry, config, catalog);
  return {
    workflows: entries,
    get(name) {
      const entry = entries.get(name);
      if (!entry) {
        throw new BraidError(ErrorCode.NOT_FOUND, `unknown workflow "${name}"`, {
          fields: { workflow: name },
          hint: `known workflows: ${[...entries.keys()].join(', ') || `none (define them in ${config.workflows.dir})`}`,
        });
      }
      return entry;
    },
  };
}

function checkReferences(entry: WorkflowEntry, config: Config, catalog: Catalog): void {
  const { workflow } = entry;
  for (const task of workflow.tasks) {
    const fail = (message: string): never => {
      throw new BraidError(ErrorCode.CONFIG_INVALID, `${entry.file ? `${entry.file}: ` : ''}workflow ${workflow.name}, task ${task.id}: ${message}`, {
        fields: { workflow: workflow.name, task: task.id },
      });
    };
    if (task.pool !== 'default' && config.workflows.pools[task.pool] === undefined) {
      fail(`pool ${task.pool} is not configured (workflows.pools: ${Object.keys(config.workflows.pools).join(', ') || 'none'})`);
    }
    const { action } = task;
    const known = <T>(lookUp: () => T): T => {
      try {
        return lookUp();
      } catch (error) {
        const braid = error as BraidError;
        return fail(`${braid.message}${braid.hint ? ` (${braid.hint})` : ''}`);
      }
    };
    if (action.kind === 'recompute') known(() => catalog.views.get(action.view));
    if (action.kind === 'compact' || action.kind === 'waitForData') known(() => catalog.source(action.source));
    if (action.kind === 'sql' && (catalog.sources.has(action.output) || catalog.views.views.has(action.output))) {
      fail(`output ${action.output} is the name of a ${catalog.sources.has(action.output) ? 'source' : 'view'}; a dataset needs a name of its own`);
    }
  }
}
