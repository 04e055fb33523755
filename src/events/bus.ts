import { createRedisEventTarget } from '@graphql-yoga/redis-event-target';
import { createPubSub, type PubSub } from '@graphql-yoga/subscription';
import { Redis } from 'ioredis';
import type { Scope } from '../tenancy/scope.ts';

/**
 * What happened to an organization's rows, as subscribers hear of it: ids only. A subscriber
 * re-reads the row through its own scoped client before anything reaches the client, so an
 * event carries no tenant data, and a row deleted in the meantime is simply not found.
 */
export type TenantEvents = {
  postCreated: Readonly<{ id: string }>;
  postUpdated: Readonly<{ id: string }>;
  postDeleted: Readonly<{ id: string }>;
  commentAdded: Readonly<{ id: string; postId: string }>;
  /**
   * A control event: a member's access may have ended (removed, role changed) or, without
   * `userId`, every member's (suspension, deletion). Open streams of the organization re-check
   * their member against the database when they hear it (src/events/streams.ts).
   */
  accessChanged: AccessChange;
};

/** `password_changed` is for a password change that invalidates the member's older tokens. */
export type AccessChange = Readonly<{
  userId?: string;
  reason:
    | 'member_removed'
    | 'role_changed'
    | 'password_changed'
    | 'organization_suspended'
    | 'deletion_requested';
}>;

export type EventName = keyof TenantEvents;

/**
 * The organization's id is part of every topic: `<event>:<organizationId>`. Topics are only
 * ever built from a Scope, never from a client's arguments.
 */
type Topics = { [K in EventName]: [organizationId: string, payload: TenantEvents[K]] };

/** Publishing and subscribing as one organization: the topic comes from the scope. */
export type ScopedEvents = Readonly<{
  publish: <K extends EventName>(event: K, payload: TenantEvents[K]) => void;
  subscribe: <K extends EventName>(event: K) => AsyncIterable<TenantEvents[K]>;
}>;

export type EventBus = Readonly<{
  /** Where events travel: in this process, or through Redis to every instance. */
  kind: 'memory' | 'redis';
  scoped: (scope: Scope) => ScopedEvents;
  /**
   * For the platform admin, who acts on organizations by id (src/admin/schema/organizations.ts): the control
   * event on that organization's topic. It carries no data, only a reason to re-check.
   */
  accessChanged: (organizationId: string, change: AccessChange) => void;
  close: () => Promise<void>;
}>;

/**
 * One instance: in memory. Several instances: set `REDIS_URL` and every instance publishes to and
 * hears from the same Redis channels.
 */
export function createEventBus(
  options: Readonly<{ redisUrl?: string | undefined; onError?: (error: unknown) => void }> = {},
): EventBus {
  let pubSub: PubSub<Topics>;
  let close = async () => {};
  if (options.redisUrl) {
    const onError = options.onError ?? (() => {});
    // Separate connections: a Redis connection in subscriber mode cannot publish.
    const connect = () => {
      const client = new Redis(options.redisUrl as string, { maxRetriesPerRequest: 3 });
      client.on('error', onError);
      return client;
    };
    const publishClient = connect();
    const subscribeClient = connect();
    pubSub = createPubSub<Topics>({
      eventTarget: createRedisEventTarget({
        publishClient: guarded(publishClient, onError),
        subscribeClient: guarded(subscribeClient, onError),
      }),
    });
    close = async () => {
      publishClient.disconnect();
      subscribeClient.disconnect();
    };
  } else {
    pubSub = createPubSub<Topics>();
  }
  const publish = pubSub.publish as (key: string, id: string, value: unknown) => void;
  return Object.freeze({
    kind: options.redisUrl ? 'redis' : 'memory',
    scoped: (scope: Scope) =>
      Object.freeze({
        publish: <K extends EventName>(event: K, payload: TenantEvents[K]) =>
          publish(event, scope.organizationId, payload),
        subscribe: <K extends EventName>(event: K) =>
          (pubSub.subscribe as (key: string, id: string) => AsyncIterable<TenantEvents[K]>)(
            event,
            scope.organizationId,
          ),
      }),
    accessChanged: (organizationId: string, change: AccessChange) =>
      publish('accessChanged', organizationId, change),
    close: () => close(),
  });
}

/**
 * Workaround: @graphql-yoga/redis-event-target 3.0.4 drops the promises of `publish`,
 * `subscribe` and `unsubscribe`. While Redis is down (or after shutdown), each would be an
 * unhandled rejection, which ends a Node process. Their failures are reported instead; a lost
 * event is lost (subscribers re-read rows anyway), the server keeps serving.
 */
function guarded(client: Redis, onError: (error: unknown) => void): Redis {
  const commands = new Set<PropertyKey>(['publish', 'subscribe', 'unsubscribe']);
  return new Proxy(client, {
    get(target, property) {
      const value = Reflect.get(target, property, target) as unknown;
      if (typeof value !== 'function') return value;
      if (!commands.has(property)) return value.bind(target);
      return (...args: unknown[]) =>
        (value as (...a: unknown[]) => Promise<unknown>).apply(target, args).catch(onError);
    },
  });
}
