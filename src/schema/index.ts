// The schema is assembled from its domains; each file registers its types, queries and mutations.
import { lexicographicSortSchema } from 'graphql';
import { builder } from './builder.ts';
import './auth.ts';
import './organization.ts';
import './user.ts';
import './post.ts';
import './comment.ts';
import './tag.ts';
import './subscriptions.ts';
import './notification.ts';
import './data-export.ts';
import './audit.ts';

export const schema = lexicographicSortSchema(builder.toSchema());
