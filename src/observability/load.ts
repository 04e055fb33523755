import type { Metrics, MetricsOptions } from './metrics.ts';
import type { Tracing, TracingConfig } from './tracing.ts';

/**
 * The two observability stacks, each loaded only when configured: without METRICS_TOKEN
 * prom-client is never imported and nothing is counted; without an OTLP endpoint nothing of the
 * OpenTelemetry SDK is. Their modules import the shared types from ./metrics.ts and
 * ./tracing.ts, which import neither.
 */
export async function loadMetrics(options: MetricsOptions): Promise<Metrics> {
  const { createMetricsPlugin } = await import('./metrics-registry.ts');
  return (sources) => createMetricsPlugin(options, sources);
}

export async function startTracing(config: TracingConfig): Promise<Tracing> {
  const { createTracing } = await import('./tracing-sdk.ts');
  return createTracing(config);
}
