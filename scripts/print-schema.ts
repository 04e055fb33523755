// npm run schema:print — writes schema.graphql (sorted) and possible-types.json (the interfaces'
// and unions' members, for Apollo Client and urql's graphcache). test/api/schema.test.ts fails
// on drift of either.
import { writeFileSync } from 'node:fs';
import { printSchema } from 'graphql';
import { schema } from '../src/schema/index.ts';
import { possibleTypesJson } from '../src/schema/possible-types.ts';

writeFileSync(new URL('../schema.graphql', import.meta.url), `${printSchema(schema)}\n`);
writeFileSync(new URL('../possible-types.json', import.meta.url), possibleTypesJson(schema));
console.log('Wrote schema.graphql and possible-types.json');
