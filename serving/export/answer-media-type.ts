import Negotiator from 'negotiator';
import { BraidError, ErrorCode } from '../../shared/errors/index.ts';
import { ARROW_STREAM_MEDIA_TYPE } from './answer-arrow.ts';
import { CSV_MEDIA_TYPE } from './answer-csv.ts';

/** What `GET /v1/views/:view` can answer in. */
export type AnswerFormat = 'json' | 'arrow' | 'csv';

/** Offered in this order: JSON wins a tie (`*\/*`, no Accept). Text types name their charset so `text/csv; charset=utf-8` matches. */
const OFFERED: ReadonlyArray<readonly [string, AnswerFormat]> = [
  ['application/json; charset=utf-8', 'json'],
  [ARROW_STREAM_MEDIA_TYPE, 'arrow'],
  [`${CSV_MEDIA_TYPE}; charset=utf-8`, 'csv'],
];

/** The media types `GET /v1/views/:view` answers in, as a 406 names them. */
export const ANSWER_MEDIA_TYPES: readonly string[] = ['application/json', ARROW_STREAM_MEDIA_TYPE, CSV_MEDIA_TYPE];

/**
 * The format an `Accept` header asks for, by q-values and specificity
 * (negotiator): no header or `*\/*` → JSON. Throws NOT_ACCEPTABLE (HTTP 406)
 * when the header accepts none of {@link ANSWER_MEDIA_TYPES}.
 *
 * @example
 * answerFormatFor('application/vnd.apache.arrow.stream'); // 'arrow'
 * answerFormatFor('text/csv;q=0.9, application/json;q=0.5'); // 'csv'
 * answerFormatFor(undefined); // 'json'
 */
export function answerFormatFor(accept: string | undefined): AnswerFormat {
  if (accept === undefined || accept.trim() === '') return 'json';
  const chosen = new Negotiator({ headers: { accept } }).mediaType(OFFERED.map(([type]) => type));
  const format = OFFERED.find(([type]) => type === chosen)?.[1];
  if (format === undefined) {
    throw new BraidError(ErrorCode.NOT_ACCEPTABLE, `cannot answer in any type of Accept: ${accept}; acceptable: ${ANSWER_MEDIA_TYPES.join(', ')}`, {
      fields: { accept, acceptable: ANSWER_MEDIA_TYPES },
    });
  }
  return format;
}
