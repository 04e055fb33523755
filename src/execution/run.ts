import {
  type ExecutionArgs,
  type ExecutionResult,
  type FieldNode,
  GraphQLError,
  type GraphQLObjectType,
  type GraphQLResolveInfo,
  getArgumentValues,
  getVariableValues,
  locatedError,
  responsePathAsArray,
} from 'graphql';
import type { FieldPlan, Plan, ValuePlan } from './plan.ts';

/**
 * Runs a plan (src/execution/plan.ts) the way graphql-js executes a query: root fields at
 * once, values completed in response order, a field's error located at its path and made null
 * up to the nearest nullable field. What differs is only what the plan skips: the resolvers
 * of property reads, and the `info` objects nothing else would read.
 *
 * The answer is the ordinary path's (`ORDINARY`) when this one cannot give the same one
 * without redoing its work: variables that do not coerce (the ordinary path reports them),
 * a scope a skipped wrapper would have refused (the ordinary path says which error), or a
 * property the row does not carry (a load this plan did not make: never expected, logged).
 */
export type Ordinary = Readonly<{ ordinary: 'variables' | 'scopes' | 'not-loaded' }>;

/** The scopes the request's member holds: the builder's own scope initializer. */
export type GrantedScopes = (context: unknown) => Readonly<Record<string, unknown>>;

type Path = Readonly<{
  prev: Path | undefined;
  key: string | number;
  typename: string | undefined;
}>;

type Run = Readonly<{
  plan: Plan;
  args: ExecutionArgs;
  variableValues: Readonly<Record<string, unknown>>;
  errors: GraphQLError[];
}>;

class NotLoaded extends Error {}

export function runPlan(
  plan: Plan,
  args: ExecutionArgs,
  grantedScopes: GrantedScopes,
): ExecutionResult | Ordinary | Promise<ExecutionResult | Ordinary> {
  const coerced = getVariableValues(
    args.schema,
    plan.operation.variableDefinitions ?? [],
    args.variableValues ?? {},
    { maxErrors: 50 },
  );
  if (coerced.errors) return { ordinary: 'variables' };
  if (plan.scopes.length > 0) {
    const granted = grantedScopes(args.contextValue);
    if (!plan.scopes.every((any) => any.some((scope) => granted[scope] === true))) {
      return { ordinary: 'scopes' };
    }
  }
  const run: Run = { plan, args, variableValues: coerced.coerced, errors: [] };
  try {
    const data = executeFields(run, plan.root, args.rootValue, undefined, plan.fields);
    if (!isPromise(data)) return respond(run, data);
    return data.then(
      (resolved) => respond(run, resolved),
      (error: unknown) => rootFailure(run, error),
    );
  } catch (error) {
    return rootFailure(run, error);
  }
}

function respond(run: Run, data: Record<string, unknown> | null): ExecutionResult {
  return run.errors.length === 0 ? { data } : { errors: run.errors, data };
}

function rootFailure(run: Run, error: unknown): ExecutionResult | Ordinary {
  if (error instanceof NotLoaded) return { ordinary: 'not-loaded' };
  run.errors.push(error as GraphQLError);
  return respond(run, null);
}

function executeFields(
  run: Run,
  type: GraphQLObjectType,
  source: unknown,
  path: Path | undefined,
  fields: readonly FieldPlan[],
): Record<string, unknown> | Promise<Record<string, unknown>> {
  const results: Record<string, unknown> = Object.create(null);
  let promised = false;
  for (const field of fields) {
    const value = executeField(run, field, type, source, path);
    results[field.key] = value;
    if (isPromise(value)) promised = true;
  }
  return promised ? settleObject(results) : results;
}

async function settleObject(results: Record<string, unknown>): Promise<Record<string, unknown>> {
  const keys = Object.keys(results);
  const values = await Promise.all(keys.map((key) => results[key]));
  const settled: Record<string, unknown> = Object.create(null);
  for (let i = 0; i < keys.length; i++) settled[keys[i] as string] = values[i];
  return settled;
}

function executeField(
  run: Run,
  field: FieldPlan,
  parent: GraphQLObjectType,
  source: unknown,
  parentPath: Path | undefined,
): unknown {
  if (field.read === 'typename') return parent.name;
  const path: Path = { prev: parentPath, key: field.key, typename: parent.name };
  try {
    let completed: unknown;
    if (field.read === 'property') {
      const value = (source as Record<string, unknown>)[field.property];
      if (value === undefined && field.mustBeLoaded) throw new NotLoaded(field.property);
      completed = complete(run, field, field.value, value, path);
    } else {
      const args = field.hasArgs
        ? getArgumentValues(field.def, field.nodes[0] as FieldNode, run.variableValues)
        : {};
      const result = field.resolve(source, args, run.args.contextValue, info(run, field, path));
      completed = isPromise(result)
        ? result.then((resolved) => complete(run, field, field.value, resolved, path))
        : complete(run, field, field.value, result, path);
    }
    if (isPromise(completed)) {
      return completed.then(undefined, (error: unknown) =>
        fieldError(run, error, field, field.value, path),
      );
    }
    return completed;
  } catch (error) {
    return fieldError(run, error, field, field.value, path);
  }
}

function info(run: Run, field: FieldPlan, path: Path): GraphQLResolveInfo {
  return {
    fieldName: field.name,
    fieldNodes: field.nodes,
    returnType: field.type,
    parentType: field.parent,
    path,
    schema: run.args.schema,
    fragments: run.plan.fragments,
    rootValue: run.args.rootValue,
    operation: run.plan.operation,
    variableValues: run.variableValues,
  } as GraphQLResolveInfo;
}

/** graphql-js's rule: located at its path, and null here unless the value may not be null. */
function fieldError(run: Run, raw: unknown, field: FieldPlan, value: ValuePlan, path: Path): null {
  if (raw instanceof NotLoaded) throw raw;
  const error = locatedError(raw, field.nodes, responsePathAsArray(path));
  if (value.kind === 'nonNull') throw error;
  run.errors.push(error);
  return null;
}

function complete(
  run: Run,
  field: FieldPlan,
  value: ValuePlan,
  result: unknown,
  path: Path,
): unknown {
  if (result instanceof Error) throw result;
  if (value.kind === 'nonNull') {
    const completed = complete(run, field, value.of, result, path);
    if (completed === null) {
      throw new Error(
        `Cannot return null for non-nullable field ${field.parent.name}.${field.name}.`,
      );
    }
    return completed;
  }
  if (result === null || result === undefined) return null;
  switch (value.kind) {
    case 'leaf': {
      const serialized = value.type.serialize(result);
      if (serialized === null || serialized === undefined) {
        throw new Error(`Expected \`${String(value.type)}.serialize\` to return a non-null value`);
      }
      return serialized;
    }
    case 'list':
      return completeList(run, field, value.of, result, path);
    case 'object': {
      const isTypeOf = value.type.isTypeOf?.(result, run.args.contextValue, info(run, field, path));
      if (isTypeOf === undefined) return executeFields(run, value.type, result, path, value.fields);
      if (isPromise(isTypeOf)) {
        return isTypeOf.then((matches) =>
          completeObject(run, field, value.type, value.fields, result, path, matches),
        );
      }
      return completeObject(run, field, value.type, value.fields, result, path, isTypeOf);
    }
  }
}

function completeObject(
  run: Run,
  field: FieldPlan,
  type: GraphQLObjectType,
  fields: readonly FieldPlan[],
  result: unknown,
  path: Path,
  matches: boolean,
) {
  if (!matches) {
    throw new GraphQLError(`Expected value of type "${type.name}" but got another.`, {
      nodes: field.nodes,
    });
  }
  return executeFields(run, type, result, path, fields);
}

function completeList(
  run: Run,
  field: FieldPlan,
  item: ValuePlan,
  result: unknown,
  path: Path,
): unknown[] | Promise<unknown[]> {
  if (typeof result !== 'object' || result === null || !(Symbol.iterator in result)) {
    throw new GraphQLError(
      `Expected Iterable, but did not find one for field "${field.parent.name}.${field.name}".`,
    );
  }
  const completed: unknown[] = [];
  let promised = false;
  let index = 0;
  for (const element of result as Iterable<unknown>) {
    const itemPath: Path = { prev: path, key: index++, typename: undefined };
    try {
      let value = isPromise(element)
        ? element.then((resolved) => complete(run, field, item, resolved, itemPath))
        : complete(run, field, item, element, itemPath);
      if (isPromise(value)) {
        promised = true;
        value = value.then(undefined, (error: unknown) =>
          fieldError(run, error, field, item, itemPath),
        );
      }
      completed.push(value);
    } catch (error) {
      completed.push(fieldError(run, error, field, item, itemPath));
    }
  }
  return promised ? Promise.all(completed) : completed;
}

function isPromise(value: unknown): value is Promise<unknown> {
  return typeof (value as { then?: unknown } | null)?.then === 'function';
}
