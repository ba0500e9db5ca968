import { Repeater } from 'graphql-yoga';
import type { Config } from '../shared/config/index.ts';
import { BraidError, ErrorCode, toBraidError } from '../shared/errors/index.ts';
import type { Logger } from '../shared/logging/index.ts';
import type { View, ViewRegistry } from '../shared/views/index.ts';
import { canRead, type Authenticator, type Principal } from './auth/authenticator.ts';
import type { ViewResolvers } from './graphql/schema.ts';
import type { ReadLimits } from './read-limits.ts';
import type { ServingMetrics } from './serving-metrics.ts';
import { parseViewQuery, queryLimits, type QueryLimits, type ViewQueryInput } from './view-query.ts';
import type { ReadMemo, ViewAnswer, ViewReader } from './view-reader.ts';
import type { ViewUpdates } from './view-updates.ts';

/** What every GraphQL and REST request carries inward: the caller. */
export interface RequestContext {
  readonly principal: Principal;
}

export interface ViewServiceOptions {
  readonly config: Config;
  readonly views: ViewRegistry;
  readonly reader: ViewReader;
  readonly authenticator: Authenticator;
  readonly updates: ViewUpdates;
  readonly metrics: ServingMetrics;
  readonly logger: Logger;
  /** The bounds on what reads cost (per request, per caller per second, concurrency, subscriptions); none when absent. */
  readonly readLimits?: ReadLimits;
}

/**
 * The one path every read takes, whatever the transport: look the view up,
 * check the caller may read it, check the arguments, answer through the
 * braid. REST, GraphQL and `braid query` all come here.
 */
export class ViewService implements ViewResolvers<RequestContext> {
  readonly limits: QueryLimits;

  constructor(private readonly options: ViewServiceOptions) {
    this.limits = queryLimits(options.config);
  }

  /** The view called `name`, or NOT_FOUND naming the views the caller may read (and only those). */
  view(name: string, context: RequestContext): View {
    const view = this.options.views.views.get(name);
    if (!view) {
      const readable = this.readable(context).map((known) => known.name);
      throw new BraidError(ErrorCode.NOT_FOUND, `no view named ${JSON.stringify(name.slice(0, 100))}; views you may read: ${readable.join(', ') || 'none'}`, { fields: { view: name.slice(0, 100) } });
    }
    return view;
  }

  /** Refuses (FORBIDDEN) a caller whose roles may not read `view`. */
  assertCanRead(view: View, context: RequestContext): void {
    this.options.authenticator.assertCanRead(context.principal, view);
  }

  readable(context: RequestContext): View[] {
    return [...this.options.views.views.values()].filter((view) => canRead(this.options.config, context.principal, view.name));
  }

  /** Answers a read; a subscription passes its {@link ReadMemo}, so that each of its reads re-reads only what may have changed. */
  async answer(view: View, input: ViewQueryInput, context: RequestContext, memo?: ReadMemo): Promise<ViewAnswer> {
    this.options.authenticator.assertCanRead(context.principal, view);
    const query = parseViewQuery(view, input, this.limits);
    const { readLimits } = this.options;
    try {
      readLimits?.checkCaller(context.principal);
    } catch (thrown) {
      const { limit } = toBraidError(thrown).fields;
      if (typeof limit === 'string') this.options.metrics.readsRefused.inc({ limit });
      throw thrown;
    }
    const budget = readLimits?.forRequest(context.principal);
    let answer: ViewAnswer;
    try {
      answer = await this.options.reader.query(query, budget, memo);
    } catch (thrown) {
      const error = toBraidError(thrown);
      // Clients see only "internal error"; the server log keeps what happened.
      if (error.code === ErrorCode.INTERNAL) this.options.logger.error({ err: error.cause ?? error, view: view.name }, 'query failed');
      if (typeof error.fields.limit === 'string') this.options.metrics.readsRefused.inc({ limit: error.fields.limit });
      throw error;
    } finally {
      // What was read is charged, whether or not the read finished.
      if (budget) {
        this.options.metrics.readCells.inc({ view: view.name }, budget.work.cells);
        readLimits!.chargeCaller(context.principal, budget.work.cells).catch((thrown: unknown) => this.options.logger.warn({ err: thrown }, 'read budget not charged'));
      }
    }
    const { metrics } = this.options;
    if (answer.meta.cached) metrics.cacheHits.inc({ view: view.name });
    if (answer.meta.partial) metrics.partialAnswers.inc({ view: view.name });
    return answer;
  }

  watch(view: View, input: ViewQueryInput, context: RequestContext): AsyncIterable<ViewAnswer> {
    this.options.authenticator.assertCanRead(context.principal, view);
    parseViewQuery(view, input, this.limits); // bad arguments fail the subscription now, not on the first flush
    const ticks = this.options.updates.listen(view.name);
    const { metrics, logger } = this.options;
    return new Repeater<ViewAnswer>(async (push, stop) => {
      let close: (() => void) | undefined;
      metrics.subscriptions.inc({ view: view.name });
      stop.then(() => ticks.return());
      try {
        close = this.options.readLimits?.openSubscription(context.principal);
        // Listening starts before the first read, so a flush during a read or before the client takes its answer
        // is not missed. After a flush only the windows still open are read again; settled ones and the batch
        // side are kept.
        const memo: ReadMemo = {};
        let tick = ticks.next();
        await push(await this.answer(view, input, context, memo));
        while (!(await tick).done) {
          tick = ticks.next();
          await push(await this.answer(view, input, context, memo));
        }
      } catch (thrown) {
        logger.warn({ err: thrown, view: view.name }, 'subscription ended by an error');
        stop(thrown);
      } finally {
        close?.();
        metrics.subscriptions.dec({ view: view.name });
      }
    });
  }
}
