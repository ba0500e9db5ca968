import { execute, GraphQLError, Kind, type DocumentNode, type ExecutionArgs, type GraphQLSchema, type SelectionSetNode } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { ErrorCode } from '../../shared/errors/index.ts';

/** Whether an operation of the document asks for the schema (`__schema` or `__type`, at its top level or in a fragment there). */
export function asksForSchema(document: DocumentNode, operationName?: string | null): boolean {
  const fragments = new Map(document.definitions.flatMap((definition) => (definition.kind === Kind.FRAGMENT_DEFINITION ? [[definition.name.value, definition.selectionSet] as const] : [])));
  const seen = new Set<string>();
  const asks = (selectionSet: SelectionSetNode): boolean =>
    selectionSet.selections.some((selection) => {
      if (selection.kind === Kind.FIELD) return selection.name.value === '__schema' || selection.name.value === '__type';
      if (selection.kind === Kind.INLINE_FRAGMENT) return asks(selection.selectionSet);
      const name = selection.name.value;
      if (seen.has(name)) return false;
      seen.add(name);
      const fragment = fragments.get(name);
      return fragment !== undefined && asks(fragment);
    });
  return document.definitions.some(
    (definition) => definition.kind === Kind.OPERATION_DEFINITION && (!operationName || definition.name?.value === operationName) && asks(definition.selectionSet),
  );
}

/**
 * Introspection as `serving.introspection` says: `readable` executes an operation that asks for the schema against
 * the schema of the views its caller may read (`schemaFor`), so a role restricted to one view learns of no other;
 * `off` refuses it. Other operations run on the whole schema, where reading a view checks the caller's roles.
 */
export function useViewIntrospection<Context>(mode: 'readable' | 'off', schemaFor: (context: Context) => GraphQLSchema): Plugin<Context & Record<string, unknown>> {
  return {
    onExecute({ args, setExecuteFn, setResultAndStopExecution }) {
      if (!asksForSchema(args.document, args.operationName)) return;
      if (mode === 'off') {
        setResultAndStopExecution({
          errors: [new GraphQLError('introspection is off on this server (serving.introspection)', { extensions: { code: ErrorCode.FORBIDDEN } })],
        });
        return;
      }
      setExecuteFn((executionArgs: ExecutionArgs) => execute({ ...executionArgs, schema: schemaFor(executionArgs.contextValue as Context) }));
    },
  };
}
