import { approxDistinct, count, max, quantiles, stddev, sum } from '../../shared/measures/index.ts';
import { defineView, session, sliding, tumbling } from '../../shared/views/index.ts';

/**
 * The views every golden scenario is run through: one per window type (and a
 * tumbling one in a time zone), on the clickstream source, small enough that
 * the expected rows are worked out by hand. Scenario times are seconds after
 * 2026-01-01T00:00:00Z, which is 19:00 on 31 December in New York. Each
 * view also carries the distribution measures (`spread`, `revenue_q`), which
 * the scenarios that name them in their expected rows check.
 */
const distribution = { spread: stddev('revenue'), revenue_q: quantiles('revenue', [0.5, 0.9]) };
export const goldenViews = [
  defineView({
    name: 'g_tumbling',
    source: 'clickstream',
    groupBy: ['url'],
    window: tumbling('10s'),
    measures: { views: count(), visitors: approxDistinct('user_id'), revenue: sum('revenue'), max_revenue: max('revenue'), ...distribution },
    allowedLateness: '5s',
  }),
  defineView({
    name: 'g_sliding',
    source: 'clickstream',
    groupBy: ['country'],
    window: sliding('20s', '10s'),
    measures: { views: count(), ...distribution },
    allowedLateness: '5s',
  }),
  defineView({
    name: 'g_zone_days',
    source: 'clickstream',
    groupBy: ['country'],
    window: tumbling('1d', { timeZone: 'America/New_York' }),
    measures: { views: count(), revenue: sum('revenue'), ...distribution },
    allowedLateness: '5s',
  }),
  defineView({
    name: 'g_session',
    source: 'clickstream',
    groupBy: ['user_id'],
    window: session('30s'),
    measures: { events: count(), revenue: sum('revenue'), ...distribution },
    allowedLateness: '5s',
  }),
];
