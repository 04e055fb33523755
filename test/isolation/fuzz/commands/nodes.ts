import { encodeGlobalId } from '../../../../src/schema/ids.ts';
import { expectError, Op, okData, type Step, same } from '../checks.ts';
import {
  type ActorRef,
  actorLabel,
  type IdRef,
  idRefLabel,
  isForeign,
  NODE_FIELDS,
  nodeShape,
  resolveActor,
  resolveId,
} from '../model.ts';

/** `node` and `nodes` lookups over ids of every kind and tenant. */

export class NodeLookup extends Op {
  readonly name = 'node';
  constructor(
    readonly actor: ActorRef,
    readonly target: IdRef,
  ) {
    super();
  }
  toString(): string {
    return `${actorLabel(this.actor)} node(${idRefLabel(this.target)})`;
  }
  protected async exec(step: Step): Promise<void> {
    const { world, model } = step;
    const a = resolveActor(model, this.actor);
    const target = resolveId(world, model, a, this.target);
    step.describe(`${a.label} node(${target.label})`);
    const query = `query Node($id: ID!) { node(id: $id) { ${NODE_FIELDS} } }`;
    const res = await step.call(a, query, { id: target.id });
    if (target.kind === 'malformed') {
      expectError(res, 'BAD_USER_INPUT', 'node(malformed id)', { node: null });
      step.done('BAD_USER_INPUT');
    } else if (target.kind === 'unknownType') {
      // A type the schema does not have is the client's mistake, like a malformed id.
      expectError(res, 'BAD_USER_INPUT', 'node(Invoice id)', { node: null });
      step.done('BAD_USER_INPUT (unknown type)');
    } else if (target.org === a.org && target.live) {
      same(okData(res, 'node').node, nodeShape(target), 'node(own id)');
      step.done('ok');
    } else {
      same(res, { data: { node: null } }, `node(${target.label}) must be null`);
      if (isForeign(target, a)) {
        const twin = await step.call(a, query, { id: encodeGlobalId(target.kind, target.uuid) });
        same(
          res,
          twin,
          `node: another tenant's id (${target.label}) must answer like a missing one`,
        );
      }
      step.done(isForeign(target, a) ? 'null (foreign)' : 'null');
    }
  }
}

export class NodesLookup extends Op {
  readonly name = 'nodes';
  constructor(
    readonly actor: ActorRef,
    readonly targets: readonly IdRef[],
  ) {
    super();
  }
  toString(): string {
    return `${actorLabel(this.actor)} nodes(${this.targets.map(idRefLabel).join(', ')})`;
  }
  protected async exec(step: Step): Promise<void> {
    const { world, model } = step;
    const a = resolveActor(model, this.actor);
    const targets = this.targets.map((ref) => resolveId(world, model, a, ref));
    step.describe(`${a.label} nodes(${targets.map((t) => t.label).join(', ')})`);
    const res = await step.call(
      a,
      `query Nodes($ids: [ID!]!) { nodes(ids: $ids) { ${NODE_FIELDS} } }`,
      {
        ids: targets.map((t) => t.id),
      },
    );
    if (targets.some((t) => t.kind === 'malformed' || t.kind === 'unknownType')) {
      // One bad id (malformed, or of a type the schema does not have) fails the whole list.
      expectError(res, 'BAD_USER_INPUT', 'nodes(with a malformed id)');
      step.done('BAD_USER_INPUT');
      return;
    }
    same(
      okData(res, 'nodes').nodes,
      targets.map((t) => (t.org === a.org && t.live ? nodeShape(t) : null)),
      'nodes(ids): own rows in place, everything else null',
    );
    step.done(targets.some((t) => isForeign(t, a)) ? 'ok (with foreign ids)' : 'ok');
  }
}
