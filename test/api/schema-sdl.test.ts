import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApi, type TestApi } from '../support/api.ts';

/** GET /graphql/schema.graphql serves the SDL where introspection is on, and nowhere else. */

const PATH = '/graphql/schema.graphql';
let on: TestApi;
let off: TestApi;

beforeAll(async () => {
  on = await createTestApi({ introspection: true });
  off = await createTestApi({ introspection: false });
});
afterAll(async () => {
  await on?.close();
  await off?.close();
});

describe(PATH, () => {
  it('serves schema.graphql as text with introspection on (development)', async () => {
    const response = await on.fetch({ path: PATH, method: 'GET' });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/plain; charset=utf-8');
    const committed = readFileSync(new URL('../../schema.graphql', import.meta.url), 'utf8');
    expect(await response.text()).toBe(committed);
  });

  it('answers 404 with introspection off', async () => {
    const response = await off.fetch({ path: PATH, method: 'GET' });
    expect(response.status).toBe(404);
    expect(await response.text()).not.toContain('type Query');
  });

  it('answers 404 to a POST', async () => {
    const response = await on.fetch({ path: PATH, method: 'POST', body: '{}' });
    expect(response.status).toBe(404);
  });
});
