import type { Plugin } from 'graphql-yoga';
import type { Database } from '../db/database.ts';
import type { JobQueue } from '../jobs/queue.ts';

export const METRICS_PATH = '/metrics';

/**
 * Distinct operation names kept as label values; any name after these is counted as `other`.
 * A client chooses operation names, so without a cap random names would grow the registry
 * (memory and scrape size) without bound.
 */
export const MAX_OPERATION_NAMES = 200;

export type MetricsOptions = Readonly<{
  /** METRICS_TOKEN: the bearer a scraper sends. */
  token: string;
  maxOperationNames?: number;
}>;

export type MetricsSources = Readonly<{
  database: Database;
  jobs: JobQueue | undefined;
  /** Open subscription streams on this instance (StreamSlots.count()). */
  openStreams: () => number;
}>;

/** Builds the /metrics plugin once createApi knows its sources (src/http/yoga.ts). */
export type Metrics = (sources: MetricsSources) => Plugin;
