import { BadUserInput, NotFound, ServiceUnavailable } from '../errors.ts';
import { rowKey } from '../tenancy/scope.ts';
import { builder } from './builder.ts';
import { idOf } from './ids.ts';
import { ownerOnlyNode } from './node.ts';

const DataExportStatus = builder.enumType('DataExportStatus', {
  values: {
    PENDING: { description: 'Waiting for, or being written by, the export job.' },
    READY: { description: 'Downloadable (`createExportDownloadLink`) until `expiresAt`.' },
    FAILED: { description: 'The job failed on every attempt; request a new export.' },
    EXPIRED: { description: 'Past `expiresAt`: the export is gone.' },
  } as const,
});

const isExpired = (row: { expiresAt: Date | null }) =>
  row.expiresAt !== null && row.expiresAt.getTime() <= Date.now();

builder.prismaNode('DataExport', {
  ...ownerOnlyNode,
  description:
    "All of the organization's rows as NDJSON, written by a background job (OWNER only).",
  select: { id: true, status: true, expiresAt: true },
  fields: (t) => ({
    status: t.field({
      type: DataExportStatus,
      resolve: (row) => (row.status === 'READY' && isExpired(row) ? 'EXPIRED' : row.status),
    }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    completedAt: t.expose('completedAt', { type: 'DateTime', nullable: true }),
    expiresAt: t.expose('expiresAt', { type: 'DateTime', nullable: true }),
  }),
});

builder.queryFields((t) => ({
  dataExport: t.withAuth({ owner: true }).prismaField({
    type: 'DataExport',
    args: { id: t.arg.id() },
    resolve: async (query, _root, args, ctx) => {
      const found = await ctx.db.dataExport.findUnique({
        ...query,
        where: rowKey(ctx.scope, idOf(args.id, 'DataExport')),
      });
      if (!found) throw new NotFound('DataExport');
      return found;
    },
  }),
}));

builder.mutationFields((t) => ({
  createExportDownloadLink: t.withAuth({ owner: true }).string({
    description:
      'A link (a path on this API) that downloads a READY export once, within minutes, as ' +
      'NDJSON (format scopegraph-ndjson/1). A new link makes the previous one unusable.',
    args: { id: t.arg.id() },
    resolve: async (_root, args, ctx) => {
      const id = idOf(args.id, 'DataExport');
      const found = await ctx.db.dataExport.findUnique({
        where: rowKey(ctx.scope, id),
        select: { id: true },
      });
      if (!found) throw new NotFound('DataExport');
      if (!ctx.exportLinks) throw new ServiceUnavailable();
      const link = await ctx.exportLinks.create(ctx.scope, ctx.db, id);
      if (!link) throw new BadUserInput('The export is not READY', 'id');
      return link;
    },
  }),
  requestDataExport: t.withAuth({ owner: true }).prismaField({
    type: 'DataExport',
    description:
      'Starts an export of every row of the organization (OWNER only). Poll `dataExport(id)`. ' +
      'While one is PENDING, asking again returns that one: one export per organization at a time.',
    resolve: async (query, _root, _args, ctx) => {
      if (!ctx.jobs) throw new ServiceUnavailable();
      const pending = { organizationId: ctx.scope.organizationId, status: 'PENDING' } as const;
      const existing = await ctx.db.dataExport.findFirst({ ...query, where: pending });
      if (existing) return existing;
      // The partial unique index on (organization_id) WHERE status = 'PENDING' settles a race
      // between two requests: the loser's insert does nothing (ON CONFLICT DO NOTHING, so its
      // transaction goes on) and it returns the winner's export.
      const [created] = await ctx.db.dataExport.createManyAndReturn({
        data: [{ organizationId: ctx.scope.organizationId, requestedById: ctx.scope.user.id }],
        skipDuplicates: true,
        select: { id: true },
      });
      if (!created) return ctx.db.dataExport.findFirstOrThrow({ ...query, where: pending });
      // Sent once the export is committed (inside a mutation's unit of work). If the queue does
      // not take it, no job will ever finish the export: a PENDING row left behind would block
      // every later request, so it is marked FAILED.
      await ctx.jobs.send('export-organization', { exportId: created.id }, (db) =>
        db.dataExport.update({
          where: rowKey(ctx.scope, created.id),
          data: { status: 'FAILED' },
          select: { id: true },
        }),
      );
      return ctx.db.dataExport.findUniqueOrThrow({
        ...query,
        where: rowKey(ctx.scope, created.id),
      });
    },
  }),
}));
