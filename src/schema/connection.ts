import {
  type ConnectionQuery,
  CURSOR_ROW,
  type CursorRow,
  type Keyset,
  keysetPage,
  NEWEST_FIRST,
  OLDEST_FIRST,
} from './pagination.ts';

type Order = 'asc' | 'desc';

/** What `list` gets: the page's arguments, in the list's order. */
export type KeysetArgs<Q extends ConnectionQuery> = Omit<Q, 'cursor' | 'skip'> & {
  where?: Keyset;
  orderBy: ({ createdAt: Order } | { id: Order })[];
};

/**
 * A keyset connection's `resolve` (src/schema/pagination.ts): `cursorRow` reads the cursor's row
 * (`CURSOR_ROW` of it) through the member's scoped client, `list` reads the page. A cursor whose
 * row is gone, or is another organization's, is an empty page without a second query.
 */
export async function keysetConnection<Q extends ConnectionQuery, R>(
  query: Q,
  order: Order,
  cursorRow: (
    where: NonNullable<Q['cursor']>,
    select: typeof CURSOR_ROW,
  ) => Promise<CursorRow | null>,
  list: (args: KeysetArgs<Q>) => Promise<R[]>,
): Promise<R[]> {
  const page = await keysetPage(query, order, (cursor) => cursorRow(cursor, CURSOR_ROW));
  if (!page) return [];
  const orderBy = order === 'desc' ? [...NEWEST_FIRST] : [...OLDEST_FIRST];
  return list({ ...page, orderBy });
}
