import { expect } from 'vitest';
import { createSystemClient } from '../../../src/db/system.ts';
import { decodeGlobalId, encodeGlobalId } from '../../../src/schema/ids.ts';
import { codes, type GraphQLResponse, type TestApi } from '../../support/api.ts';
import { seedTwoTenants, type Tenant } from '../../support/tenants.ts';

/**
 * Fault injection: the load and the checks the fault tests share. The guarantees (a clear
 * error, never a hang; recovery without a restart; isolation throughout; atomic writes) must
 * hold when the database misbehaves, not only when it is healthy.
 */

export const serverUrl = process.env.TEST_DATABASE_URL;
/**
 * A request that has not answered by then counts as a hang: longer than the 10 s a scoped
 * operation may wait for a connection (transactionOptions.maxWait, src/tenancy/scoped-client.ts).
 */
export const HANG_MS = 15_000;

export const skipped = (reason: string | null) => (reason ? ` (skipped: ${reason})` : '');

export type LoadTenant = Readonly<{
  slug: string;
  organizationId: string;
  /** The owner's. */
  token: string;
  /** Global ids: one post of its own, and one of the other tenant. */
  postId: string;
  foreignPostId: string;
}>;

/**
 * Two look-alike organizations seeded by the system client, with tokens minted directly:
 * signing up through the API would spend seconds on password hashing.
 */
export async function twoTenants(t: TestApi): Promise<LoadTenant[]> {
  const system = createSystemClient(t.database);
  try {
    const { a, b } = await seedTwoTenants(system);
    const pairs: [Tenant, Tenant][] = [
      [a, b],
      [b, a],
    ];
    return await Promise.all(
      pairs.map(async ([own, other]) => ({
        slug: own.org.slug,
        organizationId: own.org.id,
        token: await t.tokens.issue({ userId: own.owner.id, organizationId: own.org.id }),
        postId: encodeGlobalId('Post', own.post.id),
        foreignPostId: encodeGlobalId('Post', other.post.id),
      })),
    );
  } finally {
    await system.$disconnect();
  }
}

export const READ = `{
  viewer { id organization { id } }
  posts(first: 20) {
    edges {
      node { id title author { id } comments(first: 5) { edges { node { id author { id } } } } }
    }
  }
}`;
export const SIGN_IN = 'mutation($input: SignInInput!) { signIn(input: $input) { token } }';

export type Op = 'read' | 'members' | 'createPost' | 'createComment' | 'foreignNode';
const OPS: Op[] = ['read', 'createPost', 'members', 'createComment', 'foreignNode'];

type Outcome = Readonly<{
  tenant: LoadTenant;
  op: Op;
  ok: boolean;
  status: number;
  codes: (string | undefined)[];
  response: GraphQLResponse;
  started: number;
  finished: number;
}>;

export function request(t: TestApi, tenant: LoadTenant, op: Op, n: number) {
  const { token } = tenant;
  switch (op) {
    case 'read':
      return t.gql(READ, {}, token);
    case 'members':
      return t.gql('{ members(first: 10) { edges { node { id name } } } }', {}, token);
    case 'createPost':
      return t.gql(
        'mutation($title: String!) { createPost(input: { title: $title }) { id author { id } } }',
        { title: `${tenant.slug} load ${n}` },
        token,
      );
    case 'createComment':
      return t.gql(
        `mutation($postId: ID!) {
          createComment(input: { postId: $postId, body: "load" }) { id post { id } }
        }`,
        { postId: tenant.postId },
        token,
      );
    case 'foreignNode':
      // The other tenant's post: null (or a 503), never the post.
      return t.gql('query($id: ID!) { node(id: $id) { id } }', { id: tenant.foreignPostId }, token);
  }
}

/** `workers` loops of mixed reads and writes, alternating tenants, until stop(). */
export function startLoad(t: TestApi, tenants: LoadTenant[], workers: number) {
  const outcomes: Outcome[] = [];
  let running = true;
  let n = 0;
  const worker = async (w: number) => {
    for (let i = 0; running; i++) {
      const tenant = tenants[(w + i) % tenants.length];
      const op = OPS[(w + i) % OPS.length];
      if (!tenant || !op) throw new Error('unreachable');
      const started = performance.now();
      const response = await withTimeout(request(t, tenant, op, n++), HANG_MS);
      const finished = performance.now();
      const ok = response.status === 200 && !response.errors;
      outcomes.push({
        tenant,
        op,
        ok,
        status: response.status,
        codes: codes(response),
        response,
        started,
        finished,
      });
      // A failed request is retried at once by real clients too; keep the pressure up.
      if (ok) await sleep(2);
    }
  };
  const done = Promise.all(Array.from({ length: workers }, (_, w) => worker(w)));
  return {
    /** Whether every operation of every tenant, started at or after `at`, has succeeded yet. */
    recoveredSince: (at: number) =>
      tenants.every((tenant) =>
        OPS.every((op) =>
          outcomes.some((o) => o.ok && o.tenant === tenant && o.op === op && o.started >= at),
        ),
      ),
    stop: async () => {
      running = false;
      await done;
      return outcomes;
    },
  };
}

/** Failures are a 503 with SERVICE_UNAVAILABLE only: no masked internal error, no hang. */
export function expectOnlyServiceUnavailable(outcomes: Outcome[]) {
  const unexpected = outcomes
    .filter((o) => !o.ok)
    .filter((o) => o.status !== 503 || o.codes.some((c) => c !== 'SERVICE_UNAVAILABLE'))
    .map((o) => `${o.op}: ${o.status} ${JSON.stringify(o.response.errors)}`);
  expect(unexpected).toEqual([]);
}

/** For each fault, ms from it to the end of the first request started after it that succeeded. */
export function recoveryTimes(outcomes: Outcome[], faults: number[]): number[] {
  return faults.flatMap((at) => {
    const next = outcomes
      .filter((o) => o.ok && o.started >= at)
      .sort((x, y) => x.finished - y.finished)[0];
    return next ? [next.finished - at] : [];
  });
}

/**
 * Every id in every answer belongs to the organization that asked: looked up by the system
 * client, which sees all tenants.
 */
export async function expectIsolation(t: TestApi, tenants: LoadTenant[], outcomes: Outcome[]) {
  const system = createSystemClient(t.database);
  try {
    for (const tenant of tenants) {
      const seen = new Map<string, Set<string>>();
      for (const o of outcomes.filter((x) => x.tenant === tenant)) {
        for (const globalId of idsIn(o.response.data)) {
          const { typename, id } = decodeGlobalId(globalId);
          seen.set(typename, (seen.get(typename) ?? new Set()).add(id));
        }
        if (o.op === 'foreignNode' && o.ok) expect(o.response.data?.node).toBeNull();
      }
      const owners = async (typename: string, ids: string[]): Promise<string[]> => {
        const where = { id: { in: ids } };
        const select = { organizationId: true } as const;
        if (typename === 'Post') return (await system.post.findMany({ where, select })).map(owner);
        if (typename === 'Comment')
          return (await system.comment.findMany({ where, select })).map(owner);
        if (typename === 'User') return (await system.user.findMany({ where, select })).map(owner);
        if (typename === 'Organization') return ids;
        throw new Error(`unexpected type ${typename}`);
      };
      expect([...seen.keys()].sort()).toEqual(['Comment', 'Organization', 'Post', 'User']);
      for (const [typename, ids] of seen) {
        const organizations = await owners(typename, [...ids]);
        expect(organizations).toHaveLength(ids.size); // nothing seen that does not exist
        expect(new Set(organizations)).toEqual(new Set([tenant.organizationId]));
      }
    }
  } finally {
    await system.$disconnect();
  }
}

const owner = (row: { organizationId: string }) => row.organizationId;

function idsIn(value: unknown): string[] {
  if (Array.isArray(value)) return value.flatMap(idsIn);
  if (value === null || typeof value !== 'object') return [];
  return Object.entries(value).flatMap(([key, v]) =>
    key === 'id' && typeof v === 'string' ? [v] : idsIn(v),
  );
}

/** After the faults, a burst larger than the pool succeeds entirely: no dead connection kept. */
export async function expectAllSucceed(t: TestApi, tenants: LoadTenant[]) {
  const burst = await Promise.all(
    Array.from({ length: 20 }, (_, i) => {
      const tenant = tenants[i % tenants.length];
      const op = OPS[i % OPS.length];
      if (!tenant || !op) throw new Error('unreachable');
      return withTimeout(request(t, tenant, op, i), HANG_MS);
    }),
  );
  expect(burst.map((r) => ({ status: r.status, errors: r.errors }))).toEqual(
    burst.map(() => ({ status: 200, errors: undefined })),
  );
}

/** Polls (bounded) until `probe` returns something truthy; its errors count as "not yet". */
export async function pollUntil<T>(probe: () => Promise<T>, timeoutMs = 15_000): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value) return value;
    if (performance.now() > deadline) throw new Error(`not recovered after ${timeoutMs} ms`);
    await sleep(25);
  }
}

type Answer = GraphQLResponse & { status: number };

/** A request that does not answer in time becomes a failure that names the hang. */
export async function withTimeout(pending: Promise<Answer>, ms: number): Promise<Answer> {
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<Answer>((resolve) => {
    timer = setTimeout(
      () => resolve({ status: 0, errors: [{ message: `no answer in ${ms} ms` }] }),
      ms,
    );
  });
  try {
    return await Promise.race([pending, hang]);
  } finally {
    clearTimeout(timer);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
