import { describe, expectTypeOf, it } from 'vitest';
import type { Context, MemberContext } from '../../src/context.ts';
import type { SystemClient } from '../../src/db/system.ts';
import type { ScopedTx } from '../../src/tenancy/scoped-client.ts';

/**
 * The GraphQL context, as resolvers see it, holds a scoped client and nothing that crosses
 * tenants: the unscoped client's type fits nowhere in it. (Which files may import the system
 * client at all is listed in test/tenancy/imports.test.ts; no resolver file is among them.)
 */
describe('the context', () => {
  it("holds the scoped client (a transaction's, for a query operation)", () => {
    expectTypeOf<MemberContext['db']>().toEqualTypeOf<ScopedTx>();
    expectTypeOf<NonNullable<Context['db']>>().toEqualTypeOf<ScopedTx>();
  });

  it('cannot hold the system client', () => {
    expectTypeOf<SystemClient>().not.toExtend<NonNullable<Context['db']>>();
    expectTypeOf<SystemClient>().not.toExtend<Context[keyof Context]>();
    const system = {} as SystemClient;
    const context: Context = {
      requestId: '',
      client: { address: null },
      scope: null,
      // @ts-expect-error the unscoped client is not a context's db
      db: system,
      events: null,
      accounts: {} as Context['accounts'],
    };
    void context;
  });
});
