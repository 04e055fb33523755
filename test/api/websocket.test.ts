import { describe, expect, it, vi } from 'vitest';
import { REQUEST_LIMITS } from '../../src/http/limits.ts';
import { acme, connect, globex, once, useWebSocketServer } from './websocket-setup.ts';

/**
 * A WebSocket connection is accepted only with a good token in connectionParams (4401 without
 * one, 4403 with a bad one), refuses a message over 1 MiB (1009), and runs queries and mutations
 * as the token's member, inside its organization, under the validation and complexity limits an
 * HTTP request gets. Shared setup (and the other stories of GraphQL over WebSocket):
 * test/api/websocket-setup.ts.
 */
useWebSocketServer();

describe('the connection', () => {
  it('without a token is closed with 4401, with a bad one with 4403; a good one is acknowledged', async () => {
    const anonymous = connect(null);
    expect(await anonymous.acknowledged).toBe(false);
    expect((await anonymous.closed).code).toBe(4401);
    const forged = connect(`${acme.owner.token.slice(0, -4)}AAAA`);
    expect(await forged.acknowledged).toBe(false);
    expect((await forged.closed).code).toBe(4403);
    const good = connect(acme.owner.token);
    expect(await good.acknowledged).toBe(true);
  });

  it('refuses a message over 1 MiB (REQUEST_LIMITS.bodyBytes) by closing with 1009', async () => {
    const connection = connect(acme.owner.token);
    expect(await connection.acknowledged).toBe(true);
    const padding = 'x'.repeat(REQUEST_LIMITS.bodyBytes);
    // The client's doing, in the log as a refusal: nothing on the console.
    const consoleError = vi.spyOn(console, 'error');
    const tooLarge = connection.subscribe(`{ viewer { id } } # ${padding}`);
    expect(await tooLarge.ended).toBe('error');
    expect((await connection.closed).code).toBe(1009);
    expect(consoleError).not.toHaveBeenCalled();
    consoleError.mockRestore();
    // Positive control: a large message under the limit is served.
    const under = connect(acme.owner.token);
    const served = await once(under, `{ viewer { id } } # ${'x'.repeat(900_000)}`);
    expect(served.result?.errors).toBeUndefined();
  });

  it('runs queries and mutations as the token’s member', async () => {
    const connection = connect(acme.member.token);
    const viewer = await once(connection, '{ viewer { name organization { slug } } }');
    expect(viewer.result?.data).toEqual({
      viewer: { name: 'Mia Member', organization: { slug: 'acme' } },
    });
    const created = await once(
      connection,
      'mutation { createPost(input: { title: "over ws" }) { title author { name } } }',
    );
    expect(created.errors).toEqual([]);
    expect(created.result?.errors).toBeUndefined();
    expect(created.result?.data).toEqual({
      createPost: { title: 'over ws', author: { name: 'Mia Member' } },
    });
    // Another organization's post is NOT_FOUND, as over HTTP; its own is served.
    const foreign = await once(connection, 'query($id: ID!) { node(id: $id) { id } }', {
      id: globex.postId,
    });
    expect(foreign.result?.data?.node ?? null).toBeNull();
    const own = await once(connection, 'query($id: ID!) { node(id: $id) { id } }', {
      id: acme.postId,
    });
    expect(own.result?.data?.node).toEqual({ id: acme.postId });
  });

  it('applies the validation and complexity limits', async () => {
    const connection = connect(acme.owner.token);
    const aliases = (n: number) =>
      `{ ${Array.from({ length: n }, (_, i) => `a${i}: viewer { id }`).join(' ')} }`;
    const tooMany = await once(connection, aliases(31));
    expect(tooMany.errors.map((error) => error.extensions?.code)).toEqual(['QUERY_TOO_COMPLEX']);
    expect((await once(connection, aliases(30))).result?.errors).toBeUndefined();

    const fat = 'fragment Fat on Post { id title comments(first: 10) { edges { node { body } } } }';
    const heavy = `query($ids: [ID!]!) { ${Array.from({ length: 10 }, (_, i) => `a${i}: nodes(ids: $ids) { ...Fat }`).join(' ')} } ${fat}`;
    const ids = (n: number) => Array.from({ length: n }, () => acme.postId);
    const refused = await once(connection, heavy, { ids: ids(100) });
    expect(refused.result).toFailWith('QUERY_TOO_COMPLEX');
    expect((await once(connection, heavy, { ids: ids(10) })).result?.errors).toBeUndefined();
  });
});
