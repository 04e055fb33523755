import type { DocumentNode, ExecutionArgs } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import type { Logger } from '../logging.ts';
import { type Plan, planDocument } from './plan.ts';
import { type GrantedScopes, type Ordinary, runPlan } from './run.ts';

/** How many operations took which path, since the server started (tests read it). */
export type ExecutionCounts = {
  compiled: number;
  ordinary: { unplanned: number } & Record<Ordinary['ordinary'], number>;
  /** Documents and variables measured for complexity (src/execution/complexity.ts). */
  complexityMeasured: number;
};

/**
 * Query documents run on their compiled plan (src/execution/plan.ts), planned once per document
 * and operation: Yoga's parse cache hands the same document object to every request that sends
 * the same text. Everything else, and every request the plan sends back, runs as it always has.
 */
export function useCompiledExecution(
  options: Readonly<{ grantedScopes: GrantedScopes; logger: Logger; counts: ExecutionCounts }>,
): Plugin {
  const { counts } = options;
  // One Yoga, one schema: plans are kept per document object.
  const plans = new WeakMap<DocumentNode, Map<string, Plan | null>>();
  const planFor = (args: ExecutionArgs): Plan | null => {
    let operations = plans.get(args.document);
    if (!operations) {
      operations = new Map<string, Plan | null>();
      plans.set(args.document, operations);
    }
    const name = args.operationName ?? '';
    let plan = operations.get(name);
    if (plan === undefined) {
      try {
        plan = planDocument(args.schema, args.document, args.operationName);
      } catch {
        // Whatever the planner could not walk (nesting deeper than the stack): the ordinary
        // path executes it, and says what it says of it.
        plan = null;
      }
      operations.set(name, plan);
    }
    return plan;
  };
  return {
    onExecute({ args, executeFn, setExecuteFn }) {
      const plan = planFor(args);
      if (!plan) {
        counts.ordinary.unplanned++;
        return;
      }
      setExecuteFn(async (execution: ExecutionArgs) => {
        const result = await runPlan(plan, execution, options.grantedScopes);
        if (!('ordinary' in result)) {
          counts.compiled++;
          return result;
        }
        counts.ordinary[result.ordinary]++;
        if (result.ordinary === 'not-loaded') {
          // A row without what the plan loaded it for: this document runs the ordinary way from
          // now on, and the report says which one, so that the plan can be mended.
          plans.get(execution.document)?.set(execution.operationName ?? '', null);
          options.logger.warn(
            { operationName: execution.operationName },
            'compiled plan found a row it did not load; the document runs the ordinary way',
          );
        }
        return executeFn(execution);
      });
    },
  };
}

export function executionCounts(): ExecutionCounts {
  return {
    compiled: 0,
    ordinary: { unplanned: 0, variables: 0, scopes: 0, 'not-loaded': 0 },
    complexityMeasured: 0,
  };
}
