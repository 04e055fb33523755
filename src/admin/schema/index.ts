// The admin schema is assembled from its domains; each file registers its types and fields.
import { lexicographicSortSchema } from 'graphql';
import { builder } from './builder.ts';
import './audit.ts';
import './organizations.ts';
import './jobs.ts';

export const adminSchema = lexicographicSortSchema(builder.toSchema());
