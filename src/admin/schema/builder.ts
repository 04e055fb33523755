import SchemaBuilder from '@pothos/core';
import { DATE_TIME_SCALAR } from '../../schema/scalars.ts';
import type { AdminContext } from '../context.ts';

/**
 * The platform administration schema's builder, served at /admin/graphql (src/admin/endpoint.ts).
 * Its own builder: nothing here is part of the tenant schema, and nothing of the tenant schema is
 * here. Organizations are named by their plain UUID. Every action on an organization is written to
 * its audit log in the same transaction as the change.
 */
type AdminTypes = {
  Context: AdminContext;
  DefaultFieldNullability: false;
  DefaultInputFieldRequiredness: true;
  Scalars: { DateTime: { Input: Date; Output: Date }; ID: { Input: string; Output: string } };
};

// Pothos declares plugin options globally, so the tenant builder's plugins (prisma, scopeAuth)
// are required options for every builder in the program, this one too, which uses none.
export const builder = new SchemaBuilder<AdminTypes>({
  defaultFieldNullability: false,
  defaultInputFieldRequiredness: true,
} as ConstructorParameters<typeof SchemaBuilder<AdminTypes>>[0]);

builder.scalarType('DateTime', DATE_TIME_SCALAR);
builder.queryType({});
builder.mutationType({});
