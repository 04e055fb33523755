import { readFileSync } from 'node:fs';
import { isInputObjectType, isObjectType, printSchema } from 'graphql';
import { describe, expect, it } from 'vitest';
import { schema } from '../../src/schema/index.ts';
import { possibleTypes, possibleTypesJson } from '../../src/schema/possible-types.ts';

describe('schema.graphql', () => {
  it('matches the schema the code builds', () => {
    const committed = readFileSync(new URL('../../schema.graphql', import.meta.url), 'utf8');
    expect(
      committed === `${printSchema(schema)}\n`,
      'schema.graphql is out of date: run `npm run schema:print` and commit the result',
    ).toBe(true);
  });

  it('possible-types.json matches it: every interface and union with its members', () => {
    const committed = readFileSync(new URL('../../possible-types.json', import.meta.url), 'utf8');
    expect(
      committed === possibleTypesJson(schema),
      'possible-types.json is out of date: run `npm run schema:print` and commit the result',
    ).toBe(true);
    const map = possibleTypes(schema);
    // Node's members are the types the schema says implement it, derived, not listed.
    const nodes = Object.values(schema.getTypeMap())
      .filter((type) => isObjectType(type) && type.getInterfaces().some((i) => i.name === 'Node'))
      .map((type) => type.name)
      .sort();
    expect(nodes.length).toBeGreaterThan(0);
    expect(map.Node).toEqual(nodes);
  });

  it('no input names an organization: the tenant comes from the token', () => {
    const inputs = Object.values(schema.getTypeMap()).filter(isInputObjectType);
    expect(inputs.length).toBeGreaterThan(0);
    for (const input of inputs) {
      for (const field of Object.keys(input.getFields())) {
        expect(field.toLowerCase(), `${input.name}.${field}`).not.toMatch(
          /organizationid|orgid|tenant/,
        );
      }
    }
    for (const type of [schema.getQueryType(), schema.getMutationType()]) {
      for (const field of Object.values(type?.getFields() ?? {})) {
        for (const arg of field.args) {
          expect(arg.name.toLowerCase(), `${field.name}(${arg.name})`).not.toMatch(
            /organizationid|orgid|tenant/,
          );
        }
      }
    }
  });
});
