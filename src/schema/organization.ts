import { builder } from './builder.ts';
import { OLDEST_FIRST } from './pagination.ts';

builder.prismaNode('Organization', {
  id: { field: 'id' },
  findUnique: (id) => ({ id }),
  nullable: true,
  authScopes: { member: true },
  fields: (t) => ({
    name: t.exposeString('name'),
    slug: t.exposeString('slug'),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    memberCount: t.relationCount('users'),
    members: t.relatedConnection('users', {
      cursor: 'organizationId_id',
      totalCount: true,
      query: () => ({ orderBy: [...OLDEST_FIRST] }),
    }),
  }),
});

builder.queryField('organization', (t) =>
  t.withAuth({ member: true }).prismaField({
    type: 'Organization',
    description: "The signed-in user's organization.",
    resolve: (query, _root, _args, ctx) =>
      ctx.db.organization.findUniqueOrThrow({ ...query, where: { id: ctx.scope.organizationId } }),
  }),
);
