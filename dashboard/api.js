// The REST API as the page uses it: bearer token from sessionStorage, JSON in and out, errors carry the status.

const TOKEN_KEY = 'coffer.apiToken';

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/** `onUnauthorized(message)`: the stored token stopped working (expired, revoked) — the app returns to sign-in. */
export const session = { onUnauthorized: undefined };

export const tokenStore = {
  get: () => sessionStorage.getItem(TOKEN_KEY),
  set: (t) => sessionStorage.setItem(TOKEN_KEY, t),
  clear: () => sessionStorage.removeItem(TOKEN_KEY),
};

export async function call(method, path, body, token = tokenStore.get()) {
  const headers = { accept: 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  let res;
  try {
    res = await fetch(`/api/v1${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: 'no-store' });
  } catch (e) {
    throw new ApiError(0, `cannot reach the Coffer server (${e.message})`);
  }
  let data;
  try {
    data = await res.json();
  } catch {
    data = {};
  }
  if (!res.ok) {
    const err = new ApiError(res.status, data && typeof data.error === 'string' ? data.error : `${method} ${path}: HTTP ${res.status}`);
    // Only for the token in use: a token being tried at sign-in reports its own refusal.
    if (res.status === 401 && token && token === tokenStore.get()) session.onUnauthorized?.(err.message);
    throw err;
  }
  return data;
}

export const get = (path) => call('GET', path);
export const post = (path, body) => call('POST', path, body);
