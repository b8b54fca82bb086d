/**
 * The stable error codes of kumiki's HTTP APIs and dead letters — the one list (STYLE.md).
 *
 * Codes are part of the public contract: clients branch on `code`, never on `message`.
 * Never rename or reuse one; add new codes at the end. Every HTTP error body is
 * `{ code, message, field? }` where `field` is the JSON path of the offending value
 * (`batch[3].timestamp`, `event`), present when one field is to blame.
 */
export const errorCodes = {
  /** The event has a wrong type or an impossible value (e.g. `properties` is not an object). */
  KUMIKI_INVALID_EVENT: { status: 400, retriable: false, summary: 'The event is not valid.' },
  /** A field the call type requires is absent or empty (e.g. `event` on track, `userId` or `anonymousId`). */
  KUMIKI_MISSING_FIELD: { status: 400, retriable: false, summary: 'A required field is missing.' },
  /** `timestamp`, `sentAt` or `originalTimestamp` is not an ISO-8601 date-time. */
  KUMIKI_INVALID_TIMESTAMP: {
    status: 400,
    retriable: false,
    summary: 'A timestamp is not a valid ISO-8601 date-time.',
  },
  /** The body is not JSON, or its top level is not an object. */
  KUMIKI_MALFORMED_JSON: { status: 400, retriable: false, summary: 'The body is not a JSON object.' },
  /** The body is not UTF-8, or its Content-Encoding is unsupported or corrupt. */
  KUMIKI_INVALID_ENCODING: { status: 400, retriable: false, summary: 'The body is not valid UTF-8 (or gzip).' },
  /** An event is over 32 KB, or a batch over 500 KB (after decompression). */
  KUMIKI_PAYLOAD_TOO_LARGE: { status: 413, retriable: false, summary: 'The payload is over the size limit.' },
  /** No write key, or one kumiki does not know (Basic-auth user or `writeKey` in the body). */
  KUMIKI_UNAUTHORIZED: { status: 401, retriable: false, summary: 'The write key is missing or unknown.' },
  /** Kafka cannot be reached; nothing of the request was accepted. Retry after `Retry-After` seconds. */
  KUMIKI_UNAVAILABLE: { status: 503, retriable: true, summary: 'Kafka is unavailable; retry later.' },
  /** The collector is at its memory or concurrency bound; nothing was accepted. Retry after `Retry-After` seconds. */
  KUMIKI_OVERLOADED: { status: 429, retriable: true, summary: 'Too many requests in flight; retry later.' },
  /** No such route or method. */
  KUMIKI_NOT_FOUND: { status: 404, retriable: false, summary: 'No such endpoint.' },
  /** A bug in kumiki; the request was not accepted. */
  KUMIKI_INTERNAL: { status: 500, retriable: true, summary: 'Internal error.' },
  /** Read API and every keyed API: no `Authorization: Bearer <key>`, or a key (or adminToken) kumiki does not know. */
  KUMIKI_ADMIN_UNAUTHORIZED: { status: 401, retriable: false, summary: 'The Bearer key is missing or unknown.' },
  /** Read API: ClickHouse refused the SQL (syntax, unknown table or column, type, missing parameter); the message is ClickHouse's. */
  KUMIKI_SQL_ERROR: { status: 400, retriable: false, summary: 'ClickHouse refused the query.' },
  /** Read API: the SQL would write or change settings; /v1/sql is read-only (enforced by ClickHouse, readonly = 1). */
  KUMIKI_SQL_READ_ONLY: { status: 403, retriable: false, summary: 'The query would write or change settings.' },
  /** Read API: the query ran longer than its time limit and was stopped. */
  KUMIKI_SQL_TIMEOUT: { status: 408, retriable: false, summary: 'The query exceeded its time limit.' },
  /** Read API: the result has more rows, or the query needed more memory, than allowed. */
  KUMIKI_SQL_LIMIT: { status: 422, retriable: false, summary: 'The query exceeded a row or memory limit.' },
  /** Read API: no profile has this identifier. */
  KUMIKI_PROFILE_NOT_FOUND: { status: 404, retriable: false, summary: 'No profile has this identifier.' },
  /** Dead letters: a Kafka record that is not Avro in the Confluent wire format (or not JSON on a JSON topic), or names an unknown schema id. */
  KUMIKI_UNDECODABLE: { status: 400, retriable: false, summary: 'The record could not be decoded.' },
  /** Dead letters: an event with no identifier the identity rules accept (all absent, blocked or invalid). */
  KUMIKI_NO_IDENTIFIER: { status: 400, retriable: false, summary: 'The event has no usable identifier.' },
  /** Segments: the definition is invalid (unknown rule field or operator, SQL that is not one read-only SELECT, no `profile_id` column, over the limits); `field` is its JSON path. */
  KUMIKI_INVALID_SEGMENT: { status: 400, retriable: false, summary: 'The segment definition is not valid.' },
  /** Segments: no live segment has this id. */
  KUMIKI_SEGMENT_NOT_FOUND: { status: 404, retriable: false, summary: 'No segment has this id.' },
  /** Segments: the segment cannot be deleted while other segments' rules refer to it (inSegment). */
  KUMIKI_SEGMENT_IN_USE: { status: 409, retriable: false, summary: 'Other segments refer to this segment.' },
  /** The key is valid but its role lacks the route's scope; the message names the scope. */
  KUMIKI_FORBIDDEN: { status: 403, retriable: false, summary: 'The API key lacks the scope this call needs.' },
  /** The API key was revoked (`kumiki keys revoke`). */
  KUMIKI_KEY_REVOKED: { status: 401, retriable: false, summary: 'The API key was revoked.' },
  /** The API key is past its expiry (`--expires`), or an old secret is past its rotation grace. */
  KUMIKI_KEY_EXPIRED: { status: 401, retriable: false, summary: 'The API key has expired.' },
  /** Too many failed authentications from this address (or for this key); retry after `Retry-After` seconds. */
  KUMIKI_TOO_MANY_FAILURES: {
    status: 429,
    retriable: true,
    summary: 'Too many failed authentications; retry later.',
  },
  /** Keys: `role` is not one of admin, analyst, marketer, privacy-officer. */
  KUMIKI_INVALID_ROLE: { status: 400, retriable: false, summary: 'Unknown role.' },
  /** A scope name that does not exist (e.g. in `GET /v1/audit?scope=`). */
  KUMIKI_INVALID_SCOPE: { status: 400, retriable: false, summary: 'Unknown scope.' },
  /** Keys: `expires` is not a duration like `90d`, `12h` or `30m`; audit: a time that is not ISO-8601. */
  KUMIKI_INVALID_EXPIRY: { status: 400, retriable: false, summary: 'The expiry or time is malformed.' },
  /** Keys: no key has this id. */
  KUMIKI_KEY_NOT_FOUND: { status: 404, retriable: false, summary: 'No API key has this id.' },
  /** Predictions: too few purchasers or repeat buyers to fit the models; the message names what was found and the minimums. */
  KUMIKI_NOT_ENOUGH_DATA: { status: 422, retriable: false, summary: 'Too little data to fit the models.' },
  /** A query parameter or body field of a read API call is not valid (a time, a limit); `field` names it. */
  KUMIKI_INVALID_PARAMETER: { status: 400, retriable: false, summary: 'A parameter is not valid.' },
  /** Destinations: the definition is invalid (bad URL, unknown event type, segment or purpose, a private target not allowed); `field` is its JSON path. */
  KUMIKI_INVALID_DESTINATION: { status: 400, retriable: false, summary: 'The destination definition is not valid.' },
  /** Destinations: no destination has this id. */
  KUMIKI_DESTINATION_NOT_FOUND: { status: 404, retriable: false, summary: 'No destination has this id.' },
  /** Destinations: the operation does not apply to this destination (a replay of an export, an export of a webhook destination). */
  KUMIKI_DESTINATION_CONFLICT: {
    status: 409,
    retriable: false,
    summary: 'The operation does not apply to this destination.',
  },
  /** Destination dead letters: the receiver answered a permanent failure (a 4xx other than 408 and 429). */
  KUMIKI_DESTINATION_REJECTED: { status: 400, retriable: false, summary: 'The destination refused the message.' },
  /** Destination dead letters: every attempt failed (timeouts, 5xx, refused connections) up to the attempt limit. */
  KUMIKI_DELIVERY_EXHAUSTED: { status: 502, retriable: true, summary: 'Every delivery attempt failed.' },
  /** Exports: reading the membership or writing the file failed; nothing was marked exported. */
  KUMIKI_EXPORT_FAILED: { status: 502, retriable: true, summary: 'The export failed; try again.' },
  /** Privacy: unknown request type, unknown identifier type, an empty or unusable value; `field` names it. Also the dead-letter code of such a PrivacyRequest on Kafka. */
  KUMIKI_INVALID_PRIVACY_REQUEST: { status: 400, retriable: false, summary: 'The privacy request is not valid.' },
  /** Privacy: no request has this id. */
  KUMIKI_PRIVACY_REQUEST_NOT_FOUND: { status: 404, retriable: false, summary: 'No privacy request has this id.' },
  /** Privacy: the export of a request that is not an export, or not completed yet. */
  KUMIKI_PRIVACY_EXPORT_NOT_READY: {
    status: 409,
    retriable: true,
    summary: 'The request is not a completed export (yet).',
  },
} as const satisfies Record<string, { status: number; retriable: boolean; summary: string }>;

export type ErrorCode = keyof typeof errorCodes;

/** The body of every HTTP error answer. */
export interface ErrorBody {
  readonly code: ErrorCode;
  readonly message: string;
  readonly field?: string;
}

/** An error that is answered as `{ code, message, field? }` with the code's HTTP status. */
export class ApiError extends Error {
  readonly status: number;
  readonly isRetriable: boolean;
  /** For 429 and 503 answers: the `Retry-After` header, in seconds. */
  readonly retryAfterSeconds: number | undefined;

  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly field?: string,
    options?: { cause?: unknown; retryAfterSeconds?: number },
  ) {
    super(message, options);
    this.name = 'ApiError';
    this.status = errorCodes[code].status;
    this.isRetriable = errorCodes[code].retriable;
    this.retryAfterSeconds = options?.retryAfterSeconds;
  }

  body(): ErrorBody {
    return errorBody(this.code, this.message, this.field);
  }
}

export function errorBody(code: ErrorCode, message: string, field?: string): ErrorBody {
  return field === undefined ? { code, message } : { code, message, field };
}
