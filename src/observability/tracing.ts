import type { SqlMigrationAwareDriverAdapterFactory } from '@prisma/driver-adapter-utils';
import type { Plugin } from 'graphql-yoga';

/**
 * OpenTelemetry tracing, configured the OpenTelemetry way: on when an OTLP endpoint is set
 * (OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, or OTEL_EXPORTER_OTLP_ENDPOINT + /v1/traces) and neither
 * OTEL_SDK_DISABLED=true nor OTEL_TRACES_EXPORTER=none says otherwise. Off, nothing of the SDK is
 * loaded: the plugin and exporter live in ./tracing-sdk.ts, imported only by ./load.ts, on demand.
 */
export type TracingConfig = Readonly<{
  /** The OTLP/HTTP traces URL (…/v1/traces); spans are sent as JSON. */
  endpoint: string;
  serviceName: string;
  /** OTEL_EXPORTER_OTLP_HEADERS / _TRACES_HEADERS: e.g. an API key for the collector. */
  headers?: Readonly<Record<string, string>>;
}>;

export type Tracing = Readonly<{
  /** Spans for the HTTP request and GraphQL parse, validate and execute (src/http/yoga.ts). */
  plugin: Plugin;
  /** The database adapter with a span for each statement a request sends. */
  traceDatabase: <F extends SqlMigrationAwareDriverAdapterFactory>(factory: F) => F;
  /** Sends the spans still buffered (tests; shutdown does it too). */
  flush: () => Promise<void>;
  /** Sends the last spans (bounded to a few seconds); the export's failure, or null. */
  shutdown: () => Promise<string | null>;
}>;

/** The traces endpoint the environment names, per the OTLP exporter specification; or none. */
export function tracesEndpoint(env: {
  OTEL_EXPORTER_OTLP_ENDPOINT?: string | undefined;
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?: string | undefined;
  OTEL_SDK_DISABLED?: boolean | undefined;
  OTEL_TRACES_EXPORTER?: string | undefined;
}): string | undefined {
  if (env.OTEL_SDK_DISABLED || env.OTEL_TRACES_EXPORTER === 'none') return undefined;
  if (env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) return env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT;
  if (env.OTEL_EXPORTER_OTLP_ENDPOINT) {
    return new URL('v1/traces', `${env.OTEL_EXPORTER_OTLP_ENDPOINT.replace(/\/*$/, '')}/`).href;
  }
  return undefined;
}

/** `key1=value1,key2=value2` (OTEL_EXPORTER_OTLP_HEADERS), values URL-encoded. */
export function parseOtlpHeaders(value: string): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const pair of value.split(',')) {
    if (!pair.trim()) continue;
    const at = pair.indexOf('=');
    // Not echoed: a header may carry the collector's API key.
    if (at <= 0) throw new Error('an entry (not shown) is not key=value');
    headers[decodeURIComponent(pair.slice(0, at).trim())] = decodeURIComponent(
      pair.slice(at + 1).trim(),
    );
  }
  return headers;
}
