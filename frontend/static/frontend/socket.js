/* The one reconnecting WebSocket client of the page, for the chat (/ws/chat) and Imagine
 * (/ws/imagine) sockets: JSON frames in and out, reconnection with jittered exponential backoff,
 * and an end for good when the server closes with 4401 (no session: only signing in helps).
 * No DOM: the WebSocket class and timers can be handed in (the unit tests do).
 *
 * Statuses, through onStatus: "connecting" (a first attempt), "open", "reconnecting" (the socket
 * was lost and a new attempt is scheduled), "closed" (lost with no retry wanted, or the session
 * ended). `send` refuses while the socket is not open: callers keep what must survive a reconnect
 * (the chat's unacknowledged messages) and send it again from onOpen.
 */

export const RECONNECT_MIN_MS = 500;
export const RECONNECT_MAX_MS = 5000;
export const SESSION_ENDED = 4401;
const OPEN = 1; // WebSocket.OPEN

export function socketUrl(location, path) {
  return (location.protocol === "https:" ? "wss://" : "ws://") + location.host + path;
}

/** The wait before a new attempt: `backoff` ±15 %, so many pages do not retry in step; capped. */
export function retryDelay(backoff, random) {
  return Math.min(Math.round(backoff * (0.85 + random * 0.3)), RECONNECT_MAX_MS);
}

function ignore() {}

/**
 * options: url; onOpen(), onFrame(frame), onClose(sessionEnded), onStatus(status); shouldReconnect()
 * (asked when the socket is lost; default always); WebSocketClass, timers ({setTimeout,
 * clearTimeout}) and random for tests.
 */
export function createSocket(options) {
  const onOpen = options.onOpen || ignore;
  const onFrame = options.onFrame || ignore;
  const onClose = options.onClose || ignore;
  const onStatus = options.onStatus || ignore;
  const shouldReconnect = options.shouldReconnect || (() => true);
  const WebSocketClass = options.WebSocketClass || globalThis.WebSocket;
  const timers = options.timers || globalThis;
  const random = options.random || Math.random;

  let socket = null;
  let status = "closed";
  let ended = false;
  let backoff = RECONNECT_MIN_MS;
  let retryTimer = 0;

  function setStatus(name) {
    status = name;
    onStatus(name);
  }

  function connect() {
    if (ended || socket) return;
    timers.clearTimeout(retryTimer);
    retryTimer = 0;
    if (status !== "reconnecting") setStatus("connecting");
    let ws;
    try {
      ws = new WebSocketClass(options.url);
    } catch (_) {
      scheduleRetry();
      return;
    }
    socket = ws;
    // Events of a socket this client has let go of are ignored.
    ws.addEventListener("open", () => {
      if (socket !== ws) return;
      backoff = RECONNECT_MIN_MS;
      setStatus("open");
      onOpen();
    });
    ws.addEventListener("message", (event) => {
      if (socket === ws) receive(event.data);
    });
    ws.addEventListener("close", (event) => {
      if (socket === ws) lost(event.code);
    });
  }

  function receive(data) {
    let frame;
    try {
      frame = JSON.parse(data);
    } catch (_) {
      return;
    }
    if (frame && typeof frame.type === "string") onFrame(frame);
  }

  function lost(code) {
    socket = null;
    if (code === SESSION_ENDED) {
      ended = true;
      setStatus("closed");
      onClose(true);
      return;
    }
    if (shouldReconnect()) {
      setStatus("reconnecting");
      scheduleRetry();
    } else {
      setStatus("closed");
    }
    onClose(false);
  }

  function scheduleRetry() {
    if (retryTimer || ended) return;
    const delay = retryDelay(backoff, random());
    backoff = Math.min(backoff * 2, RECONNECT_MAX_MS);
    retryTimer = timers.setTimeout(() => {
      retryTimer = 0;
      connect();
    }, delay);
  }

  /** At once rather than after the backoff (the network came back, the tab became visible). */
  function reconnectNow() {
    if (socket || ended) return;
    backoff = RECONNECT_MIN_MS;
    connect();
  }

  function isOpen() {
    return socket !== null && socket.readyState === OPEN;
  }

  /** Sends `frame` as JSON if the socket is open; says whether it did. */
  function send(frame) {
    if (!isOpen()) return false;
    socket.send(JSON.stringify(frame));
    return true;
  }

  return {
    connect,
    reconnectNow,
    send,
    isOpen,
    sessionEnded: () => ended,
  };
}
