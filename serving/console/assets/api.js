// Talking to Braid's API: the credentials entered on the page, JSON reads, and GraphQL subscriptions over SSE.

const CREDENTIAL_KEY = 'braid.credential';

/** The API key or JWT entered on the page ('' for none: anonymous, as in development mode). */
export function credential() {
  return localStorage.getItem(CREDENTIAL_KEY) ?? '';
}

export function setCredential(value) {
  if (value) localStorage.setItem(CREDENTIAL_KEY, value);
  else localStorage.removeItem(CREDENTIAL_KEY);
}

/** A JWT (three base64url parts) goes as a bearer token, anything else as an API key. */
function authHeaders() {
  const value = credential();
  if (!value) return {};
  return /^[\w-]+\.[\w-]+\.[\w-]*$/.test(value) ? { authorization: `Bearer ${value}` } : { 'x-api-key': value };
}

/** An API error as the server words it: its message, code and HTTP status. */
export class ApiError extends Error {
  constructor(message, code, status) {
    super(message);
    this.code = code;
    this.status = status;
  }
}

async function errorOf(response) {
  let body;
  try {
    body = await response.json();
  } catch {
    return new ApiError(`${response.status} ${response.statusText}`, 'HTTP', response.status);
  }
  const error = body.error ?? body.errors?.[0];
  const code = error?.code ?? error?.extensions?.code ?? 'HTTP';
  return new ApiError(error?.message ?? `${response.status} ${response.statusText}`, code, response.status);
}

/** GET (or POST with a JSON body) a path of the API; its JSON, or an ApiError. */
export async function api(path, { method = 'GET', body, signal } = {}) {
  const response = await fetch(path, {
    method,
    signal,
    headers: { accept: 'application/json', ...authHeaders(), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!response.ok) throw await errorOf(response);
  return response.json();
}

/** A REST query string from a view query's parameters (where: dimension → values). */
export function restQuery({ from, to, granularity, limit, orderBy, where = {} }) {
  const params = new URLSearchParams();
  if (from) params.set('from', from);
  if (to) params.set('to', to);
  if (granularity) params.set('granularity', granularity);
  if (limit) params.set('limit', String(limit));
  if (orderBy) params.set('orderBy', orderBy);
  for (const [name, values] of Object.entries(where)) params.set(name, values.join(','));
  return params.toString();
}

/**
 * Runs a GraphQL subscription over server-sent events (fetch, so that the credentials go as headers): calls
 * `onData` with each result's `data`, `onError` with an ApiError. Returns a function that ends it.
 */
export function subscribe(query, variables, { onData, onError }) {
  const controller = new AbortController();
  (async () => {
    const response = await fetch('/graphql', {
      method: 'POST',
      signal: controller.signal,
      headers: { accept: 'text/event-stream', 'content-type': 'application/json', ...authHeaders() },
      body: JSON.stringify({ query, variables }),
    });
    if (!response.ok) throw await errorOf(response);
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffered = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffered += value;
      let end;
      while ((end = buffered.indexOf('\n\n')) >= 0) {
        const event = buffered.slice(0, end);
        buffered = buffered.slice(end + 2);
        const data = event
          .split('\n')
          .filter((line) => line.startsWith('data:'))
          .map((line) => line.slice(5).trimStart())
          .join('\n');
        if (!data) continue;
        const result = JSON.parse(data);
        if (result.errors?.length) {
          const [first] = result.errors;
          onError(new ApiError(first.message, first.extensions?.code ?? 'GRAPHQL', 200));
        } else if (result.data) onData(result.data);
      }
    }
  })().catch((error) => {
    if (!controller.signal.aborted) onError(error instanceof ApiError ? error : new ApiError(String(error.message ?? error), 'NETWORK', 0));
  });
  return () => controller.abort();
}

/** `page_views` → `pageViews`: a view's GraphQL field. */
export function fieldNameOf(view) {
  return view.replace(/_([a-z0-9])/g, (_, letter) => letter.toUpperCase());
}
