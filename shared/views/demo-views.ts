import { approxDistinct, count, sum } from '../measures/index.ts';
import { defineView } from './define-view.ts';
import { session, sliding, tumbling } from './windows.ts';

/** Page views per URL per minute, with distinct visitors and revenue. */
export const pageViews = defineView({
  name: 'page_views',
  source: 'clickstream',
  description: 'Views, distinct visitors and revenue per URL per minute.',
  groupBy: ['url'],
  window: tumbling('1m'),
  measures: { views: count(), visitors: approxDistinct('user_id'), revenue: sum('revenue') },
  allowedLateness: '1m',
  retention: '1d',
});

/** Views and revenue per country over the last 5 minutes, every minute. */
export const countryMinutes = defineView({
  name: 'country_minutes',
  source: 'clickstream',
  description: 'Views and revenue per country over 5-minute windows sliding every minute.',
  groupBy: ['country'],
  window: sliding('5m', '1m'),
  measures: { views: count(), revenue: sum('revenue') },
  allowedLateness: '1m',
  retention: '1d',
});

/** Each user's sessions (30 minutes of inactivity ends one): events and revenue. */
export const userSessions = defineView({
  name: 'user_sessions',
  source: 'clickstream',
  description: 'Events and revenue per user session (a session ends after 30 minutes without events).',
  groupBy: ['user_id'],
  window: session('30m'),
  measures: { events: count(), revenue: sum('revenue') },
  allowedLateness: '1m',
  retention: '1d',
});

export const demoViews = [pageViews, countryMinutes, userSessions];
