export { sqlIdentifier, sqlNumberLiteral, sqlStringLiteral } from './quoting.ts';
