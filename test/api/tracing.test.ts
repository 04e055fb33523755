import { readdirSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTracing } from '../../src/observability/load.ts';
import { type Tracing, tracesEndpoint } from '../../src/observability/tracing.ts';
import { ATTRIBUTES } from '../../src/observability/tracing-sdk.ts';
import { createTestApi, type Org, signUpOrg, type TestApi } from '../support/api.ts';

type OtlpValue = { stringValue?: string; intValue?: string | number; arrayValue?: unknown };
type OtlpSpan = {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes?: { key: string; value: OtlpValue }[];
};
type OtlpExport = {
  resourceSpans: {
    resource?: { attributes?: { key: string; value: OtlpValue }[] };
    scopeSpans: { spans: OtlpSpan[] }[];
  }[];
};

/** A collector of our own: OTLP/HTTP JSON on POST /v1/traces, every span kept. */
async function otlpReceiver() {
  const spans: (OtlpSpan & { service?: string })[] = [];
  const contentTypes: string[] = [];
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      if (request.method !== 'POST' || request.url !== '/v1/traces') {
        response.writeHead(404).end();
        return;
      }
      contentTypes.push(String(request.headers['content-type']));
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as OtlpExport;
      for (const resource of body.resourceSpans) {
        const service = resource.resource?.attributes?.find((a) => a.key === 'service.name')?.value
          .stringValue;
        for (const scope of resource.scopeSpans) {
          for (const span of scope.spans) spans.push({ ...span, ...(service ? { service } : {}) });
        }
      }
      response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    spans,
    contentTypes,
    base: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

const attribute = (span: OtlpSpan, key: string) =>
  span.attributes?.find((a) => a.key === key)?.value.stringValue;

describe('OpenTelemetry tracing, exported over OTLP/HTTP', () => {
  let receiver: Awaited<ReturnType<typeof otlpReceiver>>;
  let tracing: Tracing;
  let t: TestApi;
  let org: Org;
  let organizationId: string;

  beforeAll(async () => {
    receiver = await otlpReceiver();
    const endpoint = tracesEndpoint({ OTEL_EXPORTER_OTLP_ENDPOINT: receiver.base });
    expect(endpoint).toBe(`${receiver.base}/v1/traces`);
    tracing = await startTracing({ endpoint: endpoint as string, serviceName: 'scopegraph-test' });
    t = await createTestApi({ api: { tracing } });
    org = await signUpOrg(t, 'traced');
    const db = await t.database.adapter.connect();
    const rows = await db.queryRaw({ sql: 'SELECT id FROM organizations', args: [], argTypes: [] });
    organizationId = String(rows.rows[0]?.[0]);
  });
  afterAll(async () => {
    await t?.close();
    await tracing?.shutdown();
    await receiver?.close();
  });

  it('a query arrives as a request span with parse, validate and execute under it', async () => {
    const result = await t.gql('query Feed { viewer { name } }', {}, org.owner.token, {
      'x-request-id': 'traced-1',
    });
    expect(result.status).toBe(200);
    await tracing.flush();

    expect(receiver.contentTypes.every((c) => c.startsWith('application/json'))).toBe(true);
    const request = receiver.spans.find(
      (s) => s.kind === 2 && attribute(s, ATTRIBUTES.requestId) === 'traced-1',
    );
    expect(request).toBeDefined();
    if (!request) return;
    expect(request.name).toBe('POST /graphql');
    expect(request.service).toBe('scopegraph-test');
    expect(attribute(request, ATTRIBUTES.organizationId)).toBe(organizationId);
    const children = receiver.spans.filter(
      (s) => s.parentSpanId === request.spanId && s.name !== 'db.query',
    );
    expect(children.every((s) => s.traceId === request.traceId)).toBe(true);
    expect(children.map((s) => s.name).sort()).toEqual(
      ['graphql.parse', 'graphql.validate', 'query Feed'].sort(),
    );
    const operation = children.find((s) => s.name === 'query Feed');
    expect(operation && attribute(operation, ATTRIBUTES.organizationId)).toBe(organizationId);
    expect(operation && attribute(operation, ATTRIBUTES.requestId)).toBe('traced-1');
    expect(operation && attribute(operation, 'graphql.operation.name')).toBe('Feed');
    expect(operation && attribute(operation, 'graphql.operation.type')).toBe('query');
    // The statements the operation sent, as CLIENT spans under it, without their values.
    const statements = receiver.spans.filter(
      (s) => s.name === 'db.query' && s.parentSpanId === operation?.spanId,
    );
    expect(statements.length).toBeGreaterThan(0);
    expect(statements.every((s) => s.kind === 3 && s.traceId === request.traceId)).toBe(true);
    expect(statements.some((s) => /\bFROM\b/i.test(attribute(s, 'db.query.text') ?? ''))).toBe(
      true,
    );
    const texts = receiver.spans.map((s) => attribute(s, 'db.query.text') ?? '');
    expect(
      texts.filter((text) => text.includes('owner@example.com') || text.includes(organizationId)),
    ).toEqual([]);
  });

  it('an anonymous caller has no organization attribute', async () => {
    await t.gql('{ viewer { name } }', {}, undefined, { 'x-request-id': 'traced-anon' });
    await tracing.flush();
    const request = receiver.spans.find(
      (s) => attribute(s, ATTRIBUTES.requestId) === 'traced-anon' && s.kind === 2,
    );
    expect(request).toBeDefined();
    expect(request && attribute(request, ATTRIBUTES.organizationId)).toBeUndefined();
  });
});

describe('tracing is configured the OpenTelemetry way', () => {
  it('off unless an OTLP endpoint is set; OTEL_SDK_DISABLED and OTEL_TRACES_EXPORTER=none win', () => {
    expect(tracesEndpoint({})).toBeUndefined();
    expect(tracesEndpoint({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/' })).toBe(
      'http://collector:4318/v1/traces',
    );
    expect(
      tracesEndpoint({
        OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318',
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://other:4318/custom',
      }),
    ).toBe('http://other:4318/custom');
    expect(
      tracesEndpoint({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_SDK_DISABLED: true }),
    ).toBeUndefined();
    expect(
      tracesEndpoint({
        OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318',
        OTEL_TRACES_EXPORTER: 'none',
      }),
    ).toBeUndefined();
  });
});

describe('off, neither the tracing SDK nor prom-client is loaded', () => {
  const SRC = path.resolve(import.meta.dirname, '../../src');
  const files = (readdirSync(SRC, { recursive: true }) as string[])
    .filter((file) => file.endsWith('.ts') && !file.startsWith('generated'))
    .map((file) => ({ file, text: readFileSync(path.join(SRC, file), 'utf8') }));

  const staticImporters = (from: RegExp) =>
    files
      .filter(({ text }) =>
        [...text.matchAll(/^\s*(?:import|export)\b[^;]*?\bfrom\s+'([^']+)'/gms)].some(
          (m) => !/^\s*import\s+type\b/.test(m[0]) && from.test(m[1] ?? ''),
        ),
      )
      .map(({ file }) => file);
  const dynamicImporters = (module: string) =>
    files.filter(({ text }) => text.includes(`import('./${module}')`)).map(({ file }) => file);

  it('only tracing-sdk.ts imports the SDK, and only load.ts loads it, on demand', () => {
    expect(staticImporters(/^@opentelemetry\/(?!api$)/)).toEqual(['observability/tracing-sdk.ts']);
    expect(staticImporters(/tracing-sdk\.ts$/)).toEqual([]);
    expect(dynamicImporters('tracing-sdk.ts')).toEqual(['observability/load.ts']);
  });

  it('only metrics-registry.ts imports prom-client, and only load.ts loads it, on demand', () => {
    expect(staticImporters(/^prom-client$/)).toEqual(['observability/metrics-registry.ts']);
    expect(staticImporters(/metrics-registry\.ts$/)).toEqual([]);
    expect(dynamicImporters('metrics-registry.ts')).toEqual(['observability/load.ts']);
  });
});
