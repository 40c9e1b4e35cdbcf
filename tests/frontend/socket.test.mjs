// The one reconnecting WebSocket client (frontend/static/frontend/socket.js), driven with a fake
// WebSocket and fake timers: JSON frames, backoff, 4401 and the statuses the pages show.

import assert from "node:assert/strict";
import { beforeEach, describe, test } from "node:test";

import {
  RECONNECT_MAX_MS,
  RECONNECT_MIN_MS,
  SESSION_ENDED,
  createSocket,
  retryDelay,
  socketUrl,
} from "../../frontend/static/frontend/socket.js";

class FakeWebSocket {
  static made = [];

  constructor(url) {
    this.url = url;
    this.readyState = 0;
    this.sent = [];
    this.listeners = {};
    FakeWebSocket.made.push(this);
  }

  addEventListener(type, listener) {
    (this.listeners[type] ||= []).push(listener);
  }

  fire(type, event = {}) {
    (this.listeners[type] || []).forEach((listener) => listener(event));
  }

  send(data) {
    this.sent.push(JSON.parse(data));
  }

  open() {
    this.readyState = 1;
    this.fire("open");
  }

  receive(data) {
    this.fire("message", { data });
  }

  close(code) {
    this.readyState = 3;
    this.fire("close", { code });
  }
}

/** setTimeout/clearTimeout that run only when told to. */
function fakeTimers() {
  const waiting = new Map();
  let next = 1;
  return {
    setTimeout(callback, delay) {
      waiting.set(next, { callback, delay });
      return next++;
    },
    clearTimeout(id) {
      waiting.delete(id);
    },
    delays: () => [...waiting.values()].map((timer) => timer.delay),
    runAll() {
      const due = [...waiting.entries()];
      waiting.clear();
      due.forEach(([, timer]) => timer.callback());
    },
  };
}

let timers;
let log;

function client(options = {}) {
  return createSocket({
    url: "ws://example.test/ws/chat",
    WebSocketClass: FakeWebSocket,
    timers,
    random: () => 0.5, // no jitter: delays are the backoff itself
    onOpen: () => log.push("open"),
    onFrame: (frame) => log.push(frame),
    onClose: (sessionEnded) => log.push(sessionEnded ? "session ended" : "lost"),
    onStatus: (status) => log.push("status " + status),
    ...options,
  });
}

const latest = () => FakeWebSocket.made.at(-1);

beforeEach(() => {
  FakeWebSocket.made = [];
  timers = fakeTimers();
  log = [];
});

describe("connecting and frames", () => {
  test("the URL follows the page's scheme and host", () => {
    assert.equal(socketUrl({ protocol: "https:", host: "chat.example" }, "/ws/chat"), "wss://chat.example/ws/chat");
    const local = { protocol: "http:", host: "127.0.0.1:8000" };
    assert.equal(socketUrl(local, "/ws/imagine"), "ws://127.0.0.1:8000/ws/imagine");
  });

  test("connect opens one socket and says so", () => {
    const socket = client();
    socket.connect();
    socket.connect(); // already connecting: nothing more
    assert.equal(FakeWebSocket.made.length, 1);
    assert.equal(latest().url, "ws://example.test/ws/chat");
    assert.equal(socket.isOpen(), false);
    latest().open();
    assert.equal(socket.isOpen(), true);
    assert.deepEqual(log, ["status connecting", "status open", "open"]);
  });

  test("send refuses until the socket is open, then sends JSON", () => {
    const socket = client();
    socket.connect();
    assert.equal(socket.send({ type: "stop", message_id: 1 }), false);
    latest().open();
    assert.equal(socket.send({ type: "stop", message_id: 1 }), true);
    assert.deepEqual(latest().sent, [{ type: "stop", message_id: 1 }]);
  });

  test("only JSON objects with a string type reach onFrame", () => {
    const socket = client();
    socket.connect();
    latest().open();
    log.length = 0;
    latest().receive("not json");
    latest().receive("[1, 2]");
    latest().receive('{"type": 3}');
    latest().receive('{"type": "token", "seq": 1}');
    assert.deepEqual(log, [{ type: "token", seq: 1 }]);
  });
});

describe("reconnecting", () => {
  test("a lost socket reconnects after a backoff that doubles up to its cap", () => {
    const socket = client();
    socket.connect();
    const delays = [];
    for (let attempt = 0; attempt < 6; attempt++) {
      latest().close(1006);
      delays.push(...timers.delays());
      timers.runAll();
    }
    assert.deepEqual(delays, [500, 1000, 2000, 4000, 5000, 5000]);
    assert.equal(FakeWebSocket.made.length, 7);
    assert.equal(socket.isOpen(), false);
  });

  test("an open socket resets the backoff", () => {
    const socket = client();
    socket.connect();
    latest().close(1006);
    timers.runAll();
    latest().close(1006);
    assert.deepEqual(timers.delays(), [1000]);
    timers.runAll();
    latest().open();
    latest().close(1006);
    assert.deepEqual(timers.delays(), [RECONNECT_MIN_MS]);
  });

  test("while reconnecting the status stays reconnecting until a socket opens", () => {
    const socket = client();
    socket.connect();
    latest().open();
    log.length = 0;
    latest().close(1006);
    timers.runAll();
    latest().open();
    assert.deepEqual(log, ["status reconnecting", "lost", "status open", "open"]);
  });

  test("reconnectNow skips the wait", () => {
    const socket = client();
    socket.connect();
    latest().close(1006);
    latest().close(1006); // a late event of the socket already let go of: ignored
    assert.deepEqual(timers.delays(), [500]);
    socket.reconnectNow();
    assert.equal(FakeWebSocket.made.length, 2);
    assert.deepEqual(timers.delays(), [], "the scheduled attempt is cancelled");
  });

  test("events of a socket let go of are ignored", () => {
    const socket = client();
    socket.connect();
    const first = latest();
    first.close(1006);
    timers.runAll();
    log.length = 0;
    first.receive('{"type": "token"}');
    first.open();
    assert.deepEqual(log, []);
    assert.equal(socket.isOpen(), false);
  });

  test("no retry when the owner does not want one (Imagine with its panel closed)", () => {
    let wanted = false;
    const socket = client({ shouldReconnect: () => wanted });
    socket.connect();
    latest().open();
    latest().close(1006);
    assert.deepEqual(timers.delays(), []);
    assert.equal(log.at(-2), "status closed");
    wanted = true;
    socket.connect();
    assert.equal(FakeWebSocket.made.length, 2);
    assert.equal(log.at(-1), "status connecting");
  });

  test("a socket that cannot even be made is retried", () => {
    let fail = true;
    class Refusing extends FakeWebSocket {
      constructor(url) {
        if (fail) throw new SyntaxError("bad URL");
        super(url);
      }
    }
    const socket = client({ WebSocketClass: Refusing });
    socket.connect();
    assert.deepEqual(timers.delays(), [500]);
    fail = false;
    timers.runAll();
    assert.equal(FakeWebSocket.made.length, 1);
  });
});

describe("the session ends", () => {
  test("4401 ends the socket for good", () => {
    const socket = client();
    socket.connect();
    latest().open();
    latest().close(SESSION_ENDED);
    assert.equal(socket.sessionEnded(), true);
    assert.deepEqual(log.slice(-2), ["status closed", "session ended"]);
    assert.deepEqual(timers.delays(), []);
    socket.connect();
    socket.reconnectNow();
    assert.equal(FakeWebSocket.made.length, 1);
    assert.equal(socket.send({ type: "stop", message_id: 1 }), false);
  });
});

describe("retry delays", () => {
  test("jitter stays within 15 % of the backoff and under the cap", () => {
    assert.equal(retryDelay(1000, 0), 850);
    assert.equal(retryDelay(1000, 0.5), 1000);
    assert.equal(retryDelay(1000, 0.9999), 1150);
    assert.equal(retryDelay(RECONNECT_MAX_MS, 0.9999), RECONNECT_MAX_MS);
  });
});
