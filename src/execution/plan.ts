import {
  type DocumentNode,
  defaultFieldResolver,
  type FieldNode,
  type FragmentDefinitionNode,
  type GraphQLField,
  type GraphQLFieldResolver,
  type GraphQLObjectType,
  type GraphQLOutputType,
  type GraphQLSchema,
  GraphQLString,
  getOperationAST,
  isAbstractType,
  isLeafType,
  isListType,
  isNonNullType,
  isObjectType,
  Kind,
  type OperationDefinitionNode,
  type SelectionSetNode,
  typeFromAST,
  visit,
} from 'graphql';
import { propertyRead, skippedScopes } from './pothos-fields.ts';

/**
 * The compiled path's plan of a query document: for every selection of every object type it
 * reaches, the fields in response order, each with how it is read and how its value completes.
 * Built once per document (src/execution/run.ts runs it) from the selection and the fields'
 * Pothos definitions, never from a list of known documents.
 *
 * A field is read one of two ways:
 * - `property`: the value is on the row its parent resolved to. These are the fields Pothos
 *   builds as property reads (`t.expose*`, `t.relation` without arguments): Prisma loaded them
 *   with the row, because the root field's query was planned from this same selection. The
 *   plan skips their resolver wrappers (Prisma's loaded-row bookkeeping, the type's scope
 *   check), so it carries the static auth scopes those wrappers would have checked; the run
 *   checks them once per request and takes the ordinary path if any fails, so that path says
 *   why, exactly as it always has.
 * - `resolve`: anything else (root fields, connections, custom resolvers, relations with
 *   arguments): its own resolver runs, wrapped as always, with a GraphQL `info` of its own.
 *
 * A document the plan does not cover gets no plan and runs the ordinary way: not a query,
 * directives anywhere (`@skip`, `@include`, `@defer`: their answer depends on the variables),
 * an interface or union in the selection, introspection below the root, or more fields than
 * `MAX_PLANNED_FIELDS` (fragments can multiply a small document's fields; the ordinary path
 * spends that cost only on rows that exist).
 */
export type Plan = Readonly<{
  operation: OperationDefinitionNode;
  fragments: Readonly<Record<string, FragmentDefinitionNode>>;
  root: GraphQLObjectType;
  fields: readonly FieldPlan[];
  /** Scope sets a property read stands for: each passes if any scope in it is granted. */
  scopes: readonly (readonly string[])[];
}>;

export type FieldPlan = Readonly<{
  key: string;
  name: string;
  nodes: readonly FieldNode[];
  def: GraphQLField<unknown, unknown>;
  parent: GraphQLObjectType;
  type: GraphQLOutputType;
  /** `typename` answers the parent's type name; `property` reads `property` off the parent. */
  read: 'typename' | 'property' | 'resolve';
  property: string;
  /** A property read whose absence means the row was not loaded by this plan (select mode). */
  mustBeLoaded: boolean;
  resolve: GraphQLFieldResolver<unknown, unknown>;
  /** Whether the field takes arguments (graphql-js gives one without any a fresh `{}`). */
  hasArgs: boolean;
  /** The value's completion: sub-selections of object types, planned. */
  value: ValuePlan;
}>;

export type ValuePlan =
  | Readonly<{ kind: 'nonNull'; of: ValuePlan }>
  | Readonly<{ kind: 'list'; of: ValuePlan; type: GraphQLOutputType }>
  | Readonly<{ kind: 'leaf'; type: GraphQLOutputType & { serialize(value: unknown): unknown } }>
  | Readonly<{ kind: 'object'; type: GraphQLObjectType; fields: readonly FieldPlan[] }>;

/** Above this many planned fields a document is left to the ordinary path. */
export const MAX_PLANNED_FIELDS = 2_000;

const NOT_PLANNED = null;

class Unplannable extends Error {}

/** The plan of `document`'s operation `operationName`, or null: run it the ordinary way. */
export function planDocument(
  schema: GraphQLSchema,
  document: DocumentNode,
  operationName: string | null | undefined,
): Plan | null {
  const operation = getOperationAST(document, operationName);
  const root = schema.getQueryType();
  if (operation?.operation !== 'query' || !root) return NOT_PLANNED;
  if (hasDirectives(document)) return NOT_PLANNED;
  const fragments: Record<string, FragmentDefinitionNode> = Object.create(null);
  for (const definition of document.definitions) {
    if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments[definition.name.value] = definition;
  }
  const planner = new Planner(schema, fragments);
  try {
    const fields = planner.fields(root, [operation.selectionSet], true);
    return Object.freeze({
      operation,
      fragments,
      root,
      fields,
      scopes: [...planner.scopes.values()],
    });
  } catch (error) {
    if (error instanceof Unplannable) return NOT_PLANNED;
    throw error;
  }
}

function hasDirectives(document: DocumentNode): boolean {
  let found = false;
  visit(document, {
    Directive() {
      found = true;
    },
  });
  return found;
}

class Planner {
  readonly scopes = new Map<string, readonly string[]>();
  private planned = 0;

  constructor(
    private readonly schema: GraphQLSchema,
    private readonly fragments: Readonly<Record<string, FragmentDefinitionNode>>,
  ) {}

  fields(
    type: GraphQLObjectType,
    selectionSets: readonly SelectionSetNode[],
    isRoot = false,
  ): FieldPlan[] {
    const grouped = new Map<string, FieldNode[]>();
    const visited = new Set<string>();
    for (const selectionSet of selectionSets) this.collect(type, selectionSet, grouped, visited);
    const plans: FieldPlan[] = [];
    for (const [key, nodes] of grouped) {
      const [first] = nodes as [FieldNode];
      const name = first.name.value;
      if (++this.planned > MAX_PLANNED_FIELDS) throw new Unplannable();
      if (name === '__typename') {
        plans.push(this.typename(key, nodes, type));
        continue;
      }
      const def = type.getFields()[name];
      // Introspection (`__schema`, `__type`) and anything validation would have refused.
      if (!def) throw new Unplannable();
      plans.push(this.field(key, nodes, type, def, isRoot));
    }
    return plans;
  }

  private typename(key: string, nodes: FieldNode[], parent: GraphQLObjectType): FieldPlan {
    // Answered by the run from the parent's type; the rest only fills the shape.
    return {
      key,
      name: '__typename',
      nodes,
      def: { name: '__typename' } as GraphQLField<unknown, unknown>,
      parent,
      type: GraphQLString,
      read: 'typename',
      property: '',
      mustBeLoaded: false,
      resolve: defaultFieldResolver,
      hasArgs: false,
      value: { kind: 'leaf', type: GraphQLString },
    };
  }

  private field(
    key: string,
    nodes: FieldNode[],
    parent: GraphQLObjectType,
    def: GraphQLField<unknown, unknown>,
    isRoot: boolean,
  ): FieldPlan {
    const scopes = isRoot ? null : skippedScopes(parent, def);
    const property = scopes ? propertyRead(def, parent) : null;
    if (property) for (const names of scopes ?? []) this.scopes.set(names.join(' '), names);
    return {
      key,
      name: def.name,
      nodes,
      def,
      parent,
      type: def.type,
      read: property ? 'property' : 'resolve',
      property: property?.name ?? '',
      mustBeLoaded: property?.mustBeLoaded ?? false,
      resolve: def.resolve ?? defaultFieldResolver,
      hasArgs: def.args.length > 0,
      value: this.value(def.type, nodes),
    };
  }

  private value(type: GraphQLOutputType, nodes: readonly FieldNode[]): ValuePlan {
    if (isNonNullType(type)) return { kind: 'nonNull', of: this.value(type.ofType, nodes) };
    if (isListType(type)) return { kind: 'list', of: this.value(type.ofType, nodes), type };
    if (isLeafType(type)) return { kind: 'leaf', type };
    if (isObjectType(type)) {
      const sets = nodes.flatMap((node) => (node.selectionSet ? [node.selectionSet] : []));
      return { kind: 'object', type, fields: this.fields(type, sets) };
    }
    throw new Unplannable(); // an interface or a union: the ordinary path resolves its type
  }

  /** graphql-js's field collection, without directives (a document with any is not planned). */
  private collect(
    type: GraphQLObjectType,
    selectionSet: SelectionSetNode,
    grouped: Map<string, FieldNode[]>,
    visited: Set<string>,
  ): void {
    for (const selection of selectionSet.selections) {
      if (selection.kind === Kind.FIELD) {
        const key = selection.alias?.value ?? selection.name.value;
        const nodes = grouped.get(key);
        if (nodes) nodes.push(selection);
        else grouped.set(key, [selection]);
      } else if (selection.kind === Kind.INLINE_FRAGMENT) {
        if (this.applies(selection.typeCondition?.name.value, type))
          this.collect(type, selection.selectionSet, grouped, visited);
      } else {
        const name = selection.name.value;
        if (visited.has(name)) continue;
        visited.add(name);
        const fragment = this.fragments[name];
        if (fragment && this.applies(fragment.typeCondition.name.value, type))
          this.collect(type, fragment.selectionSet, grouped, visited);
      }
    }
  }

  private applies(condition: string | undefined, type: GraphQLObjectType): boolean {
    if (!condition) return true;
    const conditional = typeFromAST(this.schema, {
      kind: Kind.NAMED_TYPE,
      name: { kind: Kind.NAME, value: condition },
    });
    if (conditional === type) return true;
    return !!conditional && isAbstractType(conditional) && this.schema.isSubType(conditional, type);
  }
}
