import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll } from 'vitest';
import { createAdminCredentials } from '../../src/admin/credential.ts';
import { ADMIN_PATH } from '../../src/admin/endpoint.ts';
import { createSystemClient, type SystemClient } from '../../src/db/system.ts';
import type { JobName, JobQueue } from '../../src/jobs/queue.ts';
import {
  createTestApi,
  field,
  type GraphQLResponse,
  type Org,
  signUpOrg,
  TEST_SECRET,
  type TestApi,
} from '../support/api.ts';

/**
 * Platform administration over the real API: its own endpoint and credential, suspension that
 * takes effect on the next request, deletion and export through the job queue (workers running
 * in-process, no retries, so a failing job reaches the dead letters at once), and an audit entry
 * for every admin action. Every refusal sits next to the same request succeeding for the party
 * allowed to make it.
 */
export let t: TestApi;
export let system: SystemClient;
let electric: Server;
export let a: Org;
export let b: Org;
export let orgA: string;
export let orgB: string;
const credentials = createAdminCredentials(TEST_SECRET);
export let adminToken: string;

type Response = GraphQLResponse & { status: number; headers: Headers; text: string };

export async function request(path: string, init: RequestInit): Promise<Response> {
  const response = await t.api.yoga.fetch(`http://yoga${path}`, init);
  const text = await response.text();
  let body: GraphQLResponse = {};
  try {
    body = JSON.parse(text) as GraphQLResponse;
  } catch {}
  return { ...body, status: response.status, headers: response.headers, text };
}

export function post(path: string, query: string, variables = {}, token?: string, headers = {}) {
  return request(path, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...headers,
    },
    body: JSON.stringify({ query, variables }),
  });
}

export const adminGql = (query: string, variables = {}, token = adminToken, headers = {}) =>
  post(ADMIN_PATH, query, variables, token, headers);
export const gql = (query: string, variables = {}, token?: string) =>
  post('/graphql', query, variables, token);

export const ORG_FIELDS =
  'id name slug createdAt suspendedAt deletionRequestedAt memberCount postCount';
const ENTRY_FIELDS =
  'id organizationId actorType actorId actorLabel action targetType targetId details ipAddress requestId createdAt';
export const VIEWER = '{ viewer { name } }';
export const ORGANIZATIONS = `query($first: Int, $after: String) { organizations(first: $first, after: $after) {
  totalCount hasNextPage endCursor nodes { ${ORG_FIELDS} } } }`;

export type AdminEntry = { action: string; details: string | null } & Record<string, unknown>;

export async function auditLog(organizationId: string): Promise<AdminEntry[]> {
  const response = await adminGql(
    `query($id: ID!) { auditLog(organizationId: $id, first: 100) { ${ENTRY_FIELDS} } }`,
    { id: organizationId },
  );
  return field<AdminEntry[]>(response, 'auditLog');
}

export async function until<T>(what: string, probe: () => Promise<T | null | undefined | false>) {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

export function jobs(): JobQueue {
  if (!t.jobs) throw new Error('createTestApi({ jobs }) gave no queue');
  return t.jobs;
}

export const jobDone = (name: JobName, id: string) =>
  until(`${name} ${id}`, async () => (await jobs().state(name, id)) === 'completed');

/** Registers, in the calling test file, the hooks that build and tear down all of the above. */
export function useAdminApi() {
  beforeAll(async () => {
    // A stand-in for ElectricSQL behind the shape proxy: it answers every request with no rows.
    electric = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('[]');
    });
    await new Promise<void>((resolve) => electric.listen(0, '127.0.0.1', resolve));
    // The admin endpoint and the shape proxy on; TEST_SECRET signs admin tokens too.
    t = await createTestApi({
      jobs: { retryLimit: 0 },
      api: {
        adminSecret: TEST_SECRET,
        electricUrl: `http://127.0.0.1:${(electric.address() as AddressInfo).port}`,
      },
    });
    system = createSystemClient(t.database);
    a = await signUpOrg(t, 'acme');
    b = await signUpOrg(t, 'globex');
    orgA = (await system.organization.findUniqueOrThrow({ where: { slug: 'acme' } })).id;
    orgB = (await system.organization.findUniqueOrThrow({ where: { slug: 'globex' } })).id;
    adminToken = await credentials.issue('ops@example.com');
  });

  afterAll(async () => {
    await new Promise((resolve) => electric?.close(resolve));
    await system?.$disconnect();
    await t?.close();
  });
}
