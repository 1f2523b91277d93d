// Live updates: the server's event stream (GET /api/v1/events, text/event-stream) read with fetch, so the bearer
// token travels in the Authorization header like every other call — never in a URL, where EventSource would need it.
// On a dropped stream it reconnects with Last-Event-ID; the server replays what was missed, or sends `reset` (it
// restarted, or too much was missed) and the page reloads its data.

import { tokenStore } from './api.js';

/**
 * Opens the stream and keeps it open until `stop()`. `onEvent(type, data)` for each event; `onState('live' |
 * 'reconnecting', why)`; `onUnauthorized(message)` when the server refuses the token (the stream then stops).
 */
export function openEvents({ onEvent, onState, onUnauthorized, retryMs = 2000 }) {
  let lastId;
  let stopped = false;
  let controller;
  let timer;

  async function connect() {
    if (stopped) return;
    controller = new AbortController();
    const headers = { accept: 'text/event-stream', authorization: `Bearer ${tokenStore.get() ?? ''}` };
    if (lastId) headers['last-event-id'] = lastId;
    let res;
    try {
      res = await fetch('/api/v1/events', { headers, signal: controller.signal, cache: 'no-store' });
    } catch (e) {
      return retry(`cannot reach the server (${e.message})`);
    }
    if (res.status === 401) {
      let message = 'the server refused the token';
      try {
        message = (await res.json()).error ?? message;
      } catch {
        // keep the generic message
      }
      stopped = true;
      return onUnauthorized(message);
    }
    if (!res.ok || !res.body) return retry(`events: HTTP ${res.status}`);
    onState('live');
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buf = '';
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value;
        let i;
        while ((i = buf.search(/\r?\n\r?\n/)) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(buf[i] === '\r' ? i + 4 : i + 2);
          dispatch(block);
        }
      }
    } catch (e) {
      if (stopped) return;
      return retry(`stream broke (${e.message})`);
    }
    retry('the server closed the stream');
  }

  /** One event block of the text/event-stream format: `id:`, `event:`, `data:` lines; `:` lines are comments. */
  function dispatch(block) {
    let type = 'message';
    const data = [];
    let id;
    for (const line of block.split(/\r?\n/)) {
      if (!line || line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
      if (field === 'event') type = value;
      else if (field === 'data') data.push(value);
      else if (field === 'id') id = value;
    }
    if (id !== undefined) lastId = id;
    if (!data.length) return;
    let parsed;
    try {
      parsed = JSON.parse(data.join('\n'));
    } catch {
      return;
    }
    onEvent(type, parsed);
  }

  function retry(why) {
    if (stopped) return;
    onState('reconnecting', why);
    clearTimeout(timer);
    timer = setTimeout(connect, retryMs);
  }

  void connect();
  return {
    stop() {
      stopped = true;
      clearTimeout(timer);
      controller?.abort();
    },
  };
}
