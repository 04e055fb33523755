import type {
  SqlDriverAdapter,
  SqlDriverAdapterFactory,
  SqlQuery,
  Transaction,
} from '@prisma/driver-adapter-utils';
import { createTokenService, type TokenService } from '../../src/auth/tokens.ts';
import type { Database } from '../../src/db/database.ts';
import {
  type Api,
  type ApiOptions,
  type CredentialOptions,
  createApi,
} from '../../src/http/yoga.ts';
import { createJobQueue, type JobQueue, type RetryPolicy } from '../../src/jobs/queue.ts';
import { createLogger, type Logger } from '../../src/logging.ts';
import { GENEROUS_CREDENTIAL_POLICY } from './credentials.ts';
import { openTestDatabase, type TestDatabase } from './database.ts';
import { collectPlans } from './plans.ts';

export const TEST_SECRET = 'test-secret-that-is-long-enough-for-hs256-0123456789';

/** One GraphQL error as a client sees it: `extensions.code` is the stable code (src/errors.ts). */
export type GraphQLError = Readonly<{
  message: string;
  path?: ReadonlyArray<string | number>;
  extensions?: Readonly<{ code?: string; field?: string } & Record<string, unknown>>;
}>;

/** The one shape of a GraphQL answer in the tests, the fuzzer and the load scenario. */
export type GraphQLResponse = Readonly<{
  data?: Readonly<Record<string, unknown>> | null;
  errors?: ReadonlyArray<GraphQLError>;
}>;

export type TestApi = Readonly<{
  api: Api;
  database: TestDatabase;
  tokens: TokenService;
  /** The job queue, with its workers running in this process (`createTestApi({ jobs })`). */
  jobs: JobQueue | undefined;
  /** Statements sent to the database since the last reset (the N+1 test reads it). */
  sql: { statements: string[] };
  gql: (
    query: string,
    variables?: Record<string, unknown>,
    token?: string,
    headers?: Record<string, string>,
  ) => Promise<GraphQLResponse & { status: number; headers: Headers }>;
  fetch: (init: RequestInit & { path?: string }) => Promise<Response>;
  close: () => Promise<void>;
}>;

/**
 * The API in-process over a freshly migrated database of its own (or `database`, which the
 * caller then owns and drops); requests go through yoga.fetch. The plan guard
 * (test/support/plans.ts) checks every statement it ran when it closes.
 */
export async function createTestApi(
  options: {
    /** An open database to run on; close() leaves it open. */
    database?: TestDatabase;
    /** Anything else createApi takes (admin secret, Electric URL, event bus, limits…). */
    api?: Partial<Omit<ApiOptions, 'database' | 'tokens' | 'logger' | 'jobs' | 'credentials'>>;
    introspection?: boolean;
    logger?: Logger;
    /** A job queue on the test database, worked in-process; `true` retries fast (2 × 1 s). */
    jobs?: boolean | Partial<RetryPolicy>;
    /** Work the queue in this process (default); false leaves the jobs waiting. */
    workJobs?: boolean;
    /** Default: GENEROUS_CREDENTIAL_POLICY (test/api/credentials.test.ts tests the real one). */
    credentials?: CredentialOptions;
  } = {},
): Promise<TestApi> {
  const database = options.database ?? (await openTestDatabase());
  const sql = { statements: [] as string[] };
  const plans = collectPlans();
  const tokens = createTokenService({ secret: TEST_SECRET });
  const logger = options.logger ?? createLogger('silent');
  const jobs = options.jobs
    ? await createJobQueue(database, {
        logger,
        retry: { ...TEST_RETRY, ...(options.jobs === true ? {} : options.jobs) },
        pollingIntervalSeconds: 0.5,
      })
    : undefined;
  const api = createApi({
    database: {
      ...database,
      adapter: countingAdapter(plans.recording(database.adapter), sql.statements),
    } as Database,
    ...(jobs ? { jobs } : {}),
    tokens,
    logger,
    introspection: options.introspection ?? true,
    graphiql: false,
    credentials: options.credentials ?? { policy: GENEROUS_CREDENTIAL_POLICY },
    ...options.api,
  });
  if (jobs && options.workJobs !== false) await api.startJobWorkers();
  const fetch = ({ path = '/graphql', ...init }: RequestInit & { path?: string }) =>
    Promise.resolve(api.yoga.fetch(`http://yoga${path}`, init));
  return Object.freeze({
    api,
    database,
    tokens,
    jobs,
    sql,
    fetch,
    gql: async (query, variables, token, headers = {}) => {
      const response = await fetch({
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          ...(token ? { authorization: `Bearer ${token}` } : {}),
          ...headers,
        },
        body: JSON.stringify({ query, variables }),
      });
      return {
        status: response.status,
        headers: response.headers,
        ...((await response.json()) as GraphQLResponse),
      };
    },
    close: async () => {
      const badPlans = await plans.check(database.adapter);
      await jobs?.close();
      await api.close();
      if (!options.database) await database.drop();
      if (badPlans) throw badPlans;
    },
  });
}

const TEST_RETRY: RetryPolicy = { retryLimit: 2, retryDelay: 1, retryDelayMax: 2 };

/** Wraps a driver adapter to record every statement, in and out of transactions. */
function countingAdapter(factory: Database['adapter'], log: string[]): Database['adapter'] {
  return recordingAdapter(factory, {
    query: (query) => log.push(query.sql),
    begin: () => log.push('BEGIN'),
  });
}

/** Tells `seen` of every statement sent through `factory` (with its arguments), and each BEGIN. */
export function recordingAdapter(
  factory: Database['adapter'],
  seen: Readonly<{ query: (query: SqlQuery) => void; begin?: () => void }>,
): Database['adapter'] {
  const record = <T extends SqlDriverAdapter | Transaction>(target: T): T =>
    new Proxy(target, {
      get(object, property, receiver) {
        const value = Reflect.get(object, property, receiver);
        if (property === 'queryRaw' || property === 'executeRaw') {
          return (query: SqlQuery) => {
            seen.query(query);
            return (value as (q: SqlQuery) => Promise<unknown>).call(object, query);
          };
        }
        if (property === 'startTransaction') {
          return async (...args: unknown[]) => {
            seen.begin?.();
            const tx = await (value as (...a: unknown[]) => Promise<Transaction>).apply(
              object,
              args,
            );
            return record(tx);
          };
        }
        return typeof value === 'function' ? value.bind(object) : value;
      },
    });
  const wrapped: SqlDriverAdapterFactory = {
    provider: factory.provider,
    adapterName: factory.adapterName,
    connect: async () => record(await factory.connect()),
  };
  return Object.assign(Object.create(factory) as Database['adapter'], wrapped);
}

export type Member = Readonly<{ token: string; userId: string; name: string }>;
export type Org = Readonly<{
  slug: string;
  owner: Member;
  admin: Member;
  member: Member;
  postId: string;
  commentId: string;
}>;

const PASSWORD = 'correct-horse-9';

/**
 * An organization built through the API itself: sign-up, an admin and a member, one post by
 * the owner and one comment by the member. Two of these, with different slugs, look alike.
 */
export async function signUpOrg(t: TestApi, slug: string): Promise<Org> {
  const signUp = await t.gql(
    `mutation($input: SignUpInput!) { signUp(input: $input) { token user { id name } } }`,
    {
      input: {
        organizationName: `Org ${slug}`,
        organizationSlug: slug,
        email: 'owner@example.com',
        password: PASSWORD,
        name: 'Olive Owner',
      },
    },
  );
  const payload = (signUp.data?.signUp ?? {}) as { token: string; user: { id: string } };
  const owner: Member = { token: payload.token, userId: payload.user.id, name: 'Olive Owner' };
  const addMember = async (email: string, name: string, role: string): Promise<Member> => {
    const created = await t.gql(
      `mutation($input: CreateMemberInput!) { createMember(input: $input) { id } }`,
      { input: { email, name, role, password: PASSWORD } },
      owner.token,
    );
    const userId = field<{ id: string }>(created, 'createMember').id;
    const signIn = await t.gql(
      `mutation($input: SignInInput!) { signIn(input: $input) { token } }`,
      { input: { organizationSlug: slug, email, password: PASSWORD } },
    );
    return { token: field<{ token: string }>(signIn, 'signIn').token, userId, name };
  };
  const admin = await addMember('admin@example.com', 'Adam Admin', 'ADMIN');
  const member = await addMember('member@example.com', 'Mia Member', 'MEMBER');
  const post = await t.gql(
    `mutation { createPost(input: { title: "Hello", content: "First" }) { id } }`,
    {},
    owner.token,
  );
  const postId = field<{ id: string }>(post, 'createPost').id;
  const comment = await t.gql(
    `mutation($postId: ID!) { createComment(input: { postId: $postId, body: "Nice" }) { id } }`,
    { postId },
    member.token,
  );
  const commentId = field<{ id: string }>(comment, 'createComment').id;
  return { slug, owner, admin, member, postId, commentId };
}

/** `response.data[key]`, or a failure that shows the GraphQL errors. */
export function field<T>(response: GraphQLResponse, key: string): T {
  const value = response.data?.[key];
  if (value === undefined || value === null) {
    throw new Error(`No data.${key}: ${JSON.stringify(response.errors ?? response.data)}`);
  }
  return value as T;
}

export function codes(response: GraphQLResponse): (string | undefined)[] {
  return (response.errors ?? []).map((e) => e.extensions?.code);
}
