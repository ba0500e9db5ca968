import type { FieldSpec } from '../../sources/index.ts';
import { checkShape, invalid, type ExprNode } from './ast.ts';
import { exprToString, nodeOf, type Expr } from './builders.ts';

/**
 * Type checking: the type of an expression over a source's fields, with an
 * error naming the unknown field or the mistyped argument. The faces trust
 * the types: check an expression before compiling it.
 */

/** What an expression evaluates to. `timestamp` is epoch milliseconds (a number in JS, BIGINT in DuckDB). */
export type ValueType = 'string' | 'number' | 'bool' | 'timestamp';

/** 'null' is the type of a bare null literal: it fits anywhere. */
type InferredType = ValueType | 'null';

const FIELD_VALUE_TYPE: Readonly<Record<FieldSpec['type'], ValueType>> = {
  string: 'string',
  int: 'number',
  float: 'number',
  bool: 'bool',
  timestampMs: 'timestamp',
};

/**
 * Type-checks an expression against a source's fields and returns its type.
 * Throws a CONFIG_INVALID {@link BraidError} naming the unknown field or the
 * function and its mistyped argument. Run it before compiling: the compilers
 * trust the types.
 *
 * @example
 * typeOf(gt(field('revenue'), 0), clickstream.fields) // 'bool'
 * typeOf(field('urll'), clickstream.fields) // throws: unknown field "urll" (fields: ts, user_id, …)
 */
export function typeOf(expr: Expr | ExprNode, fields: Record<string, FieldSpec>): ValueType {
  const node = nodeOf(expr);
  checkShape(node);
  const type = inferType(node, fields);
  if (type === 'null') throw invalid(`${exprToString(node)} is always null, so it has no type`);
  return type;
}

function inferType(node: ExprNode, fields: Record<string, FieldSpec>): InferredType {
  if (node.kind === 'field') {
    const spec = Object.hasOwn(fields, node.name) ? fields[node.name] : undefined;
    if (!spec) throw invalid(`unknown field "${node.name}" (fields: ${Object.keys(fields).join(', ')})`, { field: node.name });
    return FIELD_VALUE_TYPE[spec.type];
  }
  if (node.kind === 'lit') {
    const value = node.value;
    return value === null ? 'null' : typeof value === 'string' ? 'string' : typeof value === 'number' ? 'number' : 'bool';
  }
  const { fn } = node;
  const types = node.args.map((arg) => inferType(arg, fields));
  const expect = (index: number, allowed: readonly ValueType[], what: string): void => {
    const type = types[index]!;
    if (type !== 'null' && !allowed.includes(type)) {
      const position = node.args.length > 1 ? `argument ${index + 1} is ` : 'got ';
      throw invalid(`${fn}: expected ${what}, ${position}${type} (${exprToString(node.args[index]!)})`);
    }
  };
  const numeric = (t: InferredType) => t === 'number' || t === 'timestamp';
  const comparable = (a: InferredType, b: InferredType) => a === 'null' || b === 'null' || a === b || (numeric(a) && numeric(b));

  switch (fn) {
    case 'eq':
    case 'ne':
    case 'lt':
    case 'le':
    case 'gt':
    case 'ge': {
      const [a, b] = types as [InferredType, InferredType];
      if (!comparable(a, b)) throw invalid(`${fn}: cannot compare ${a} with ${b}`);
      if (fn !== 'eq' && fn !== 'ne' && (a === 'bool' || b === 'bool')) throw invalid(`${fn}: cannot order bool values (use eq or ne)`);
      return 'bool';
    }
    case 'and':
    case 'or':
    case 'not':
      types.forEach((_, i) => expect(i, ['bool'], 'a bool'));
      return 'bool';
    case 'add':
    case 'sub': {
      types.forEach((_, i) => expect(i, ['number', 'timestamp'], 'a number'));
      const [a, b] = types as [InferredType, InferredType];
      if (fn === 'add' && a === 'timestamp' && b === 'timestamp') throw invalid('add: cannot add two timestamps');
      if (fn === 'sub' && a !== 'timestamp' && b === 'timestamp') throw invalid('sub: cannot subtract a timestamp from a number');
      if (fn === 'sub' && a === 'timestamp' && b === 'timestamp') return 'number';
      return a === 'timestamp' || b === 'timestamp' ? 'timestamp' : 'number';
    }
    case 'mul':
    case 'div':
      // Timestamps are numbers here: div(field('ts'), 1000) is epoch seconds.
      types.forEach((_, i) => expect(i, ['number', 'timestamp'], 'a number'));
      return 'number';
    case 'lower':
    case 'upper':
    case 'concat':
      types.forEach((_, i) => expect(i, ['string'], 'a string'));
      return 'string';
    case 'startsWith':
    case 'contains':
      types.forEach((_, i) => expect(i, ['string'], 'a string'));
      return 'bool';
    case 'length':
      expect(0, ['string'], 'a string');
      return 'number';
    case 'isNull':
    case 'isNotNull':
      return 'bool';
    case 'in': {
      const x = types[0]!;
      types.slice(1).forEach((t, i) => {
        if (!comparable(x, t)) throw invalid(`in: cannot compare ${x} with ${t} (${exprToString(node.args[i + 1]!)})`);
      });
      return 'bool';
    }
    case 'coalesce': {
      const known = types.filter((t) => t !== 'null');
      const first = known[0];
      if (first === undefined) return 'null';
      for (const t of known) if (!comparable(first, t)) throw invalid(`coalesce: cannot mix ${first} with ${t}`);
      return first;
    }
    case 'hourOfDay':
    case 'dayOfWeek':
      expect(0, ['timestamp', 'number'], 'a timestamp');
      return 'number';
    case 'truncTime':
      expect(0, ['timestamp', 'number'], 'a timestamp');
      return 'timestamp';
  }
}
