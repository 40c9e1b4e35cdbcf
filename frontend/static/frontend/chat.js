/* The web chat page: conversation list (REST), one WebSocket for every answer, streaming
 * rendering, stop / regenerate / resume. The wire contract is docs/protocol.md.
 * Plain script, no dependencies; markdown.js (window.renderMarkdown) loads first.
 */
(function () {
  "use strict";

  var RECONNECT_MIN_MS = 500;
  var RECONNECT_MAX_MS = 5000;
  var TITLE_REFRESH_DELAY_MS = 3000;
  var GAP_RESUME_DELAY_MS = 1000;
  var REGENERATE_ACK_TIMEOUT_MS = 15000;
  var COUNTER_FROM = 0.8; // show the character counter from this share of the limit on
  var MAX_NOTICES = 4;
  var NEAR_BOTTOM_PX = 80;
  var FINAL_STATUSES = ["complete", "cancelled", "error", "interrupted"];

  // --- elements and configuration ----------------------------------------------------------

  function byId(id) {
    return document.getElementById(id);
  }

  var els = {
    app: byId("app"),
    sidebar: byId("sidebar"),
    sidebarToggle: byId("sidebar-toggle"),
    backdrop: byId("sidebar-backdrop"),
    newChat: byId("new-chat"),
    list: byId("conversation-list"),
    listEmpty: byId("conversation-empty"),
    title: byId("conversation-title"),
    connection: byId("connection"),
    notices: byId("notices"),
    thread: byId("thread"),
    welcome: byId("welcome"),
    messages: byId("messages"),
    regenerateBar: byId("regenerate-bar"),
    regenerate: byId("regenerate"),
    form: byId("composer-form"),
    composer: byId("composer"),
    send: byId("send"),
    stop: byId("stop"),
    counter: byId("composer-counter"),
  };

  var maxChars = parseInt(document.body.getAttribute("data-max-message-chars"), 10) || 4000;

  // --- state -------------------------------------------------------------------------------
  //
  // An entry is one message on screen or being followed:
  //   {id, role, conversationId, status, text, lastSeq, buffer (seq -> text), finishReason,
  //    error, el, bodyEl, noteEl, stopRequested, recovering}
  // status: "sending" (user, not acked yet), "pending" (answer placeholder before its ack),
  //         or a stored status: streaming | complete | cancelled | error | interrupted.

  var state = {
    conversations: [],
    currentId: null, // the open conversation; null for a new chat
    view: [], // entries of the open conversation, in order
    answers: new Map(), // message id -> assistant entry, for every answer known to this page
    pending: new Map(), // client_id -> {clientId, text, conversationId, userEntry, answerEntry}
    regenerating: null, // {conversationId, oldEntry, answerEntry, timer}
    loadToken: 0,
    renaming: false,
    listStale: false,
  };

  // --- helpers -----------------------------------------------------------------------------

  function charCount(text) {
    return Array.from(text).length; // the server counts code points
  }

  function newClientId() {
    if (window.crypto && typeof window.crypto.randomUUID === "function") return window.crypto.randomUUID();
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    return Array.from(bytes, function (b) { return b.toString(16).padStart(2, "0"); }).join("");
  }

  function isFinal(status) {
    return FINAL_STATUSES.indexOf(status) !== -1;
  }

  function statusFor(finishReason) {
    switch (finishReason) {
      case "stop":
      case "length":
        return "complete";
      case "cancelled":
        return "cancelled";
      case "error":
        return "error";
      default:
        return "interrupted";
    }
  }

  function conversationTitle(conversation) {
    return (conversation && conversation.title && conversation.title.trim()) || "New conversation";
  }

  function csrfToken() {
    var match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]*)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  // --- REST --------------------------------------------------------------------------------

  function ApiError(status, code, detail) {
    this.status = status;
    this.code = code;
    this.detail = detail;
  }

  function api(method, path, body) {
    var headers = { Accept: "application/json" };
    var options = { method: method, headers: headers, credentials: "same-origin" };
    if (method !== "GET" && method !== "HEAD") headers["X-CSRFToken"] = csrfToken();
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    return fetch(path, options).then(
      function (response) {
        if (response.status === 204) return null;
        return response.text().then(function (text) {
          var data = null;
          try {
            data = text ? JSON.parse(text) : null;
          } catch (_) {
            data = null;
          }
          if (!response.ok) {
            var error = (data && data.error) || {};
            var detail = error.detail || "The server answered " + response.status + ".";
            if (response.status === 401) detail = "Your session has ended. Reload the page to start a new one.";
            throw new ApiError(response.status, error.code || "http_" + response.status, detail);
          }
          return data;
        });
      },
      function () {
        throw new ApiError(0, "network", "The server could not be reached. Check your connection and try again.");
      }
    );
  }

  // --- notices -----------------------------------------------------------------------------

  function showNotice(text, kind) {
    var existing = els.notices.querySelectorAll("[data-testid=notice]");
    for (var i = 0; i < existing.length; i++) {
      if (existing[i].getAttribute("data-text") === text) existing[i].remove();
    }
    while (els.notices.children.length >= MAX_NOTICES) els.notices.firstElementChild.remove();
    var notice = document.createElement("div");
    notice.className = "notice notice-" + (kind || "error");
    notice.setAttribute("data-testid", "notice");
    notice.setAttribute("data-text", text);
    notice.setAttribute("role", kind === "info" ? "status" : "alert");
    var message = document.createElement("p");
    message.textContent = text;
    var close = document.createElement("button");
    close.type = "button";
    close.className = "icon-button notice-close";
    close.setAttribute("aria-label", "Dismiss");
    close.textContent = "×";
    close.addEventListener("click", function () {
      notice.remove();
      els.composer.focus();
    });
    notice.appendChild(message);
    notice.appendChild(close);
    els.notices.appendChild(notice);
    return notice;
  }

  // --- conversation list -------------------------------------------------------------------

  function refreshConversations() {
    return api("GET", "/api/conversations").then(
      function (data) {
        state.conversations = (data && data.conversations) || [];
        if (state.renaming) state.listStale = true;
        else renderConversationList();
        updateHeader();
      },
      function (error) {
        showNotice(error.detail);
      }
    );
  }

  function refreshConversationsTwice() {
    // A new conversation gets its title a moment after its first answer.
    refreshConversations();
    window.setTimeout(refreshConversations, TITLE_REFRESH_DELAY_MS);
  }

  function renderConversationList() {
    state.listStale = false;
    // Keep the keyboard focus on the same row when the list is drawn again.
    var focused = document.activeElement;
    var focusedItem = focused && els.list.contains(focused) ? focused.closest("[data-conversation-id]") : null;
    var focusedId = focusedItem ? focusedItem.getAttribute("data-conversation-id") : null;
    els.list.textContent = "";
    state.conversations.forEach(function (conversation) {
      els.list.appendChild(conversationItem(conversation));
    });
    els.listEmpty.hidden = state.conversations.length > 0;
    if (focusedId) {
      var again = els.list.querySelector('[data-conversation-id="' + focusedId + '"] .conversation-open');
      if (again) again.focus();
    }
  }

  function conversationItem(conversation) {
    var title = conversationTitle(conversation);
    var item = document.createElement("li");
    item.className = "conversation";
    item.setAttribute("data-testid", "conversation-item");
    item.setAttribute("data-conversation-id", String(conversation.id));
    if (conversation.id === state.currentId) item.setAttribute("aria-current", "page");

    var open = document.createElement("button");
    open.type = "button";
    open.className = "conversation-open";
    open.title = title;
    var label = document.createElement("span");
    label.className = "conversation-title";
    label.textContent = title;
    open.appendChild(label);
    open.addEventListener("click", function () {
      openConversation(conversation.id, { history: "push" });
    });

    var actions = document.createElement("div");
    actions.className = "conversation-actions";
    var rename = iconButton("conversation-rename", "✎", "Rename “" + title + "”");
    rename.addEventListener("click", function (event) {
      event.stopPropagation();
      startRename(item, conversation);
    });
    var remove = iconButton("conversation-delete", "🗑", "Delete “" + title + "”");
    remove.addEventListener("click", function (event) {
      event.stopPropagation();
      deleteConversation(conversation);
    });
    actions.appendChild(rename);
    actions.appendChild(remove);

    item.appendChild(open);
    item.appendChild(actions);
    item.addEventListener("click", function (event) {
      // The whole row opens the conversation, not only its title button.
      if (event.target === item) openConversation(conversation.id, { history: "push" });
    });
    return item;
  }

  function iconButton(className, symbol, label) {
    var button = document.createElement("button");
    button.type = "button";
    button.className = "icon-button " + className;
    button.setAttribute("aria-label", label);
    button.title = label;
    var icon = document.createElement("span");
    icon.setAttribute("aria-hidden", "true");
    icon.textContent = symbol;
    button.appendChild(icon);
    return button;
  }

  function startRename(item, conversation) {
    if (state.renaming) return;
    state.renaming = true;
    var open = item.querySelector(".conversation-open");
    var input = document.createElement("input");
    input.type = "text";
    input.className = "conversation-rename-input";
    input.maxLength = 200;
    input.value = conversation.title || "";
    input.setAttribute("aria-label", "New title for “" + conversationTitle(conversation) + "”");
    item.replaceChild(input, open);
    item.classList.add("renaming");
    input.focus();
    input.select();

    var finished = false;
    function finish(save) {
      if (finished) return;
      finished = true;
      var title = input.value.trim();
      var done = function () {
        state.renaming = false;
        renderConversationList();
        updateHeader();
        var again = els.list.querySelector('[data-conversation-id="' + conversation.id + '"] .conversation-open');
        if (again && document.activeElement === document.body) again.focus();
      };
      if (!save || title === (conversation.title || "")) return done();
      if (title.length < 1 || title.length > 200) {
        showNotice("A title needs 1 to 200 characters.");
        return done();
      }
      input.disabled = true;
      api("PATCH", "/api/conversations/" + conversation.id, { title: title }).then(
        function (updated) {
          state.conversations = state.conversations.map(function (c) {
            return c.id === updated.id ? updated : c;
          });
          done();
        },
        function (error) {
          showNotice(error.detail);
          done();
        }
      );
    }
    input.addEventListener("keydown", function (event) {
      if (event.key === "Enter") {
        event.preventDefault();
        finish(true);
      } else if (event.key === "Escape") {
        event.preventDefault();
        finish(false);
      }
    });
    input.addEventListener("blur", function () {
      finish(true);
    });
  }

  function deleteConversation(conversation) {
    var title = conversationTitle(conversation);
    if (!window.confirm("Delete “" + title + "”? This cannot be undone.")) return;
    api("DELETE", "/api/conversations/" + conversation.id).then(
      function () {
        state.conversations = state.conversations.filter(function (c) {
          return c.id !== conversation.id;
        });
        state.answers.forEach(function (entry, id) {
          if (entry.conversationId === conversation.id) state.answers.delete(id);
        });
        if (state.currentId === conversation.id) newChat({ history: "replace" });
        renderConversationList();
        els.newChat.focus();
      },
      function (error) {
        showNotice(error.detail);
      }
    );
  }

  function updateHeader() {
    var title = "New chat";
    if (state.currentId !== null) {
      var conversation = state.conversations.find(function (c) {
        return c.id === state.currentId;
      });
      title = conversation ? conversationTitle(conversation) : "Conversation";
    }
    els.title.textContent = title;
    document.title = title === "New chat" ? "Assistant" : title + " · Assistant";
    var items = els.list.querySelectorAll("[data-conversation-id]");
    for (var i = 0; i < items.length; i++) {
      if (Number(items[i].getAttribute("data-conversation-id")) === state.currentId) {
        items[i].setAttribute("aria-current", "page");
      } else {
        items[i].removeAttribute("aria-current");
      }
    }
  }

  // --- location ----------------------------------------------------------------------------

  function idFromHash() {
    var match = /(?:^#|&)c=(\d+)(?:&|$)/.exec(window.location.hash);
    return match ? Number(match[1]) : null;
  }

  function setLocation(id, mode) {
    if (mode === "none") return;
    var url = window.location.pathname + window.location.search + (id === null ? "" : "#c=" + id);
    if (url === window.location.pathname + window.location.search + window.location.hash) return;
    if (mode === "push") window.history.pushState(null, "", url);
    else window.history.replaceState(null, "", url);
  }

  function syncFromLocation() {
    var id = idFromHash();
    if (id === state.currentId) return;
    if (id === null) newChat({ history: "none" });
    else openConversation(id, { history: "none" });
  }

  // --- the message view --------------------------------------------------------------------

  function newEntry(fields) {
    var entry = {
      id: null,
      role: "assistant",
      conversationId: null,
      status: "complete",
      text: "",
      lastSeq: 0,
      buffer: new Map(),
      finishReason: null,
      error: null,
      el: null,
      bodyEl: null,
      noteEl: null,
      stopRequested: false,
      recovering: false,
      gapTimer: 0,
    };
    Object.keys(fields).forEach(function (key) {
      entry[key] = fields[key];
    });
    return entry;
  }

  function entryFromRest(message, conversationId) {
    return newEntry({
      id: message.id,
      role: message.role,
      conversationId: conversationId,
      status: message.status,
      text: message.content || "",
      lastSeq: message.seq || 0,
      finishReason: message.finish_reason,
      error: message.error,
    });
  }

  function buildMessageEl(entry) {
    var item = document.createElement("li");
    item.className = "message message-" + entry.role;
    item.setAttribute("data-testid", "message");
    item.setAttribute("data-role", entry.role);
    var who = document.createElement("span");
    who.className = "visually-hidden";
    who.textContent = entry.role === "user" ? "You said:" : "Assistant said:";
    var bubble = document.createElement("div");
    bubble.className = "bubble";
    var body = document.createElement("div");
    body.className = entry.role === "assistant" ? "content markdown" : "content";
    bubble.appendChild(body);
    var note = document.createElement("p");
    note.className = "message-note";
    note.hidden = true;
    item.appendChild(who);
    item.appendChild(bubble);
    item.appendChild(note);
    entry.el = item;
    entry.bodyEl = body;
    entry.noteEl = note;
    updateMessageAttributes(entry);
    renderBody(entry);
    return item;
  }

  function updateMessageAttributes(entry) {
    if (!entry.el) return;
    if (entry.id !== null) entry.el.setAttribute("data-message-id", String(entry.id));
    entry.el.setAttribute("data-status", entry.status);
    var busy = entry.status === "pending" || entry.status === "streaming";
    if (busy) entry.el.setAttribute("aria-busy", "true");
    else entry.el.removeAttribute("aria-busy");
    renderNote(entry);
  }

  function renderBody(entry) {
    if (!entry.bodyEl) return;
    if (entry.role === "assistant") entry.bodyEl.innerHTML = window.renderMarkdown(entry.text);
    else entry.bodyEl.textContent = entry.text;
  }

  function renderNote(entry) {
    var note = entry.noteEl;
    if (!note) return;
    var text = "";
    var kind = "";
    if (entry.status === "cancelled") {
      text = "stopped";
      kind = "stopped";
    } else if (entry.status === "error") {
      text = "Error: " + (entry.error || "the answer could not be completed.");
      kind = "error";
    } else if (entry.status === "interrupted") {
      text = "Interrupted: " + (entry.error || "the answer was cut off before it finished.");
      kind = "error";
    } else if (entry.status === "complete" && entry.finishReason === "length") {
      text = "answer cut at the length limit";
      kind = "length";
    } else if (entry.status === "sending") {
      text = "sending…";
      kind = "sending";
    }
    note.textContent = text;
    note.setAttribute("data-kind", kind);
    note.hidden = !text;
  }

  var dirty = new Set();
  var frameRequest = 0;

  function scheduleRender(entry) {
    dirty.add(entry);
    if (!frameRequest) frameRequest = window.requestAnimationFrame(flushRenders);
  }

  function flushRenders() {
    frameRequest = 0;
    var stick = nearBottom();
    dirty.forEach(function (entry) {
      if (entry.el && entry.el.isConnected) renderBody(entry);
    });
    dirty.clear();
    if (stick) scrollToBottom();
  }

  function renderNow(entry) {
    dirty.delete(entry);
    if (!entry.el || !entry.el.isConnected) return;
    var stick = nearBottom();
    renderBody(entry);
    updateMessageAttributes(entry);
    if (stick) scrollToBottom();
  }

  function nearBottom() {
    var t = els.thread;
    return t.scrollHeight - t.scrollTop - t.clientHeight < NEAR_BOTTOM_PX;
  }

  function scrollToBottom() {
    els.thread.scrollTop = els.thread.scrollHeight;
  }

  function appendEntry(entry) {
    state.view.push(entry);
    els.messages.appendChild(buildMessageEl(entry));
  }

  function removeEntry(entry) {
    var index = state.view.indexOf(entry);
    if (index !== -1) state.view.splice(index, 1);
    if (entry.el) entry.el.remove();
  }

  function clearView() {
    state.view = [];
    els.messages.textContent = "";
  }

  function streamingEntryHere() {
    for (var i = state.view.length - 1; i >= 0; i--) {
      var entry = state.view[i];
      if (entry.role === "assistant" && (entry.status === "pending" || entry.status === "streaming")) return entry;
    }
    return null;
  }

  function updateControls() {
    var streaming = streamingEntryHere();
    els.send.hidden = !!streaming;
    els.stop.hidden = !streaming;
    els.stop.disabled = !!(streaming && streaming.stopRequested);
    els.stop.textContent = streaming && streaming.stopRequested ? "Stopping…" : "Stop";
    els.messages.setAttribute("aria-busy", streaming ? "true" : "false");

    var last = state.view[state.view.length - 1];
    var canRegenerate =
      !streaming && !state.regenerating && state.currentId !== null && !!last &&
      last.role === "assistant" && isFinal(last.status);
    els.regenerateBar.hidden = !canRegenerate;
    els.welcome.hidden = state.view.length > 0 || state.currentId !== null;
    updateComposer();
    // Focus was on a control that just disappeared: keep the keyboard in the composer.
    if (document.activeElement === document.body || (document.activeElement && document.activeElement.hidden)) {
      els.composer.focus();
    }
  }

  function updateComposer() {
    var text = els.composer.value;
    var count = charCount(text);
    var tooLong = count > maxChars;
    els.send.disabled = text.trim().length === 0 || tooLong;
    if (count >= maxChars * COUNTER_FROM) {
      els.counter.hidden = false;
      els.counter.textContent = tooLong
        ? count + " / " + maxChars + " characters — " + (count - maxChars) + " too many"
        : count + " / " + maxChars + " characters";
      els.counter.classList.toggle("over", tooLong);
    } else {
      els.counter.hidden = true;
      els.counter.textContent = "";
    }
    els.composer.style.height = "auto";
    els.composer.style.height = Math.min(els.composer.scrollHeight, 240) + "px";
  }

  // --- opening conversations ---------------------------------------------------------------

  function newChat(options) {
    state.loadToken++;
    state.currentId = null;
    setLocation(null, (options && options.history) || "push");
    clearView();
    // A first message of a new conversation still waiting for its ack stays visible here.
    state.pending.forEach(function (p) {
      if (p.conversationId === null) {
        appendEntry(p.userEntry);
        appendEntry(p.answerEntry);
      }
    });
    updateHeader();
    updateControls();
    closeSidebarOnSmallScreens();
  }

  function openConversation(id, options) {
    var token = ++state.loadToken;
    state.currentId = id;
    setLocation(id, (options && options.history) || "push");
    clearView();
    els.thread.classList.add("loading");
    updateHeader();
    updateControls();
    closeSidebarOnSmallScreens();
    return api("GET", "/api/conversations/" + id + "/messages").then(
      function (data) {
        if (token !== state.loadToken) return;
        els.thread.classList.remove("loading");
        showMessages(id, (data && data.messages) || []);
      },
      function (error) {
        if (token !== state.loadToken) return;
        els.thread.classList.remove("loading");
        if (error.status === 404) {
          showNotice("That conversation no longer exists.");
          newChat({ history: "replace" });
          refreshConversations();
        } else {
          showNotice(error.detail);
        }
      }
    );
  }

  function showMessages(conversationId, messages) {
    clearView();
    messages.forEach(function (message) {
      if (message.role !== "assistant") {
        appendEntry(entryFromRest(message, conversationId));
        return;
      }
      var known = state.answers.get(message.id);
      if (known && !isFinal(known.status) && known.lastSeq >= message.seq) {
        appendEntry(known); // followed live here already: our copy is at least as fresh
        return;
      }
      var entry = entryFromRest(message, conversationId);
      if (known) {
        entry.stopRequested = known.stopRequested;
        clearTimeout(known.gapTimer);
      }
      state.answers.set(message.id, entry);
      appendEntry(entry);
      if (entry.status === "streaming") {
        // Show what is stored and continue it live from there.
        sendFrame({ type: "resume", message_id: entry.id, after_seq: entry.lastSeq });
      }
    });
    state.pending.forEach(function (p) {
      if (p.conversationId === conversationId && state.view.indexOf(p.userEntry) === -1) {
        appendEntry(p.userEntry);
        appendEntry(p.answerEntry);
      }
    });
    updateControls();
    scrollToBottom();
  }

  // --- sending -----------------------------------------------------------------------------

  function sendMessage() {
    var raw = els.composer.value;
    var text = raw.trim();
    if (!text || charCount(text) > maxChars || streamingEntryHere()) return;
    var clientId = newClientId();
    var conversationId = state.currentId;
    var userEntry = newEntry({ role: "user", conversationId: conversationId, status: "sending", text: text });
    var answerEntry = newEntry({ role: "assistant", conversationId: conversationId, status: "pending" });
    var pending = {
      clientId: clientId,
      text: raw,
      conversationId: conversationId,
      userEntry: userEntry,
      answerEntry: answerEntry,
    };
    state.pending.set(clientId, pending);
    appendEntry(userEntry);
    appendEntry(answerEntry);
    els.composer.value = "";
    updateControls();
    scrollToBottom();
    els.composer.focus();
    // Sent now if the socket is open, otherwise as soon as it reconnects.
    sendMessageFrame(pending);
  }

  function sendMessageFrame(pending) {
    return sendFrame({
      type: "message",
      conversation_id: pending.conversationId,
      text: pending.text.trim(),
      client_id: pending.clientId,
    });
  }

  function failPending(pending, detail) {
    state.pending.delete(pending.clientId);
    removeEntry(pending.userEntry);
    removeEntry(pending.answerEntry);
    // The text is not lost: it goes back to the composer unless something new was typed.
    if (!els.composer.value.trim()) els.composer.value = pending.text;
    showNotice(detail);
    updateControls();
  }

  function stopAnswer() {
    var entry = streamingEntryHere();
    if (!entry || entry.stopRequested) return;
    entry.stopRequested = true;
    if (entry.id !== null) sendFrame({ type: "stop", message_id: entry.id });
    // Without an id (no ack yet) or a socket, the stop is sent once they exist.
    updateControls();
  }

  function regenerate() {
    var last = state.view[state.view.length - 1];
    if (state.currentId === null || !last || last.role !== "assistant" || !isFinal(last.status)) return;
    if (state.regenerating || streamingEntryHere()) return;
    if (!socketOpen()) {
      showNotice("Not connected. Wait a moment for the connection to come back, then try again.");
      return;
    }
    var answerEntry = newEntry({ role: "assistant", conversationId: state.currentId, status: "pending" });
    last.el.classList.add("superseding");
    var regenerating = { conversationId: state.currentId, oldEntry: last, answerEntry: answerEntry, timer: 0 };
    state.regenerating = regenerating;
    appendEntry(answerEntry);
    regenerating.timer = window.setTimeout(function () {
      if (state.regenerating === regenerating) failRegenerate("The server did not answer. Try again.");
    }, REGENERATE_ACK_TIMEOUT_MS);
    sendFrame({ type: "regenerate", conversation_id: state.currentId });
    updateControls();
    els.composer.focus();
  }

  function failRegenerate(detail) {
    var regenerating = state.regenerating;
    if (!regenerating) return;
    state.regenerating = null;
    clearTimeout(regenerating.timer);
    removeEntry(regenerating.answerEntry);
    if (regenerating.oldEntry.el) regenerating.oldEntry.el.classList.remove("superseding");
    if (detail) showNotice(detail);
    updateControls();
  }

  // --- frames from the server --------------------------------------------------------------

  function handleFrame(frame) {
    switch (frame.type) {
      case "ack":
        return handleAck(frame);
      case "token":
        return handleToken(frame);
      case "done":
        return handleDone(frame);
      case "error":
        return handleError(frame);
      default:
        return undefined; // a newer server may add frame types; ignore them
    }
  }

  function handleAck(frame) {
    var entry;
    if (frame.client_id !== null && frame.client_id !== undefined) {
      var pending = state.pending.get(frame.client_id);
      if (!pending) return;
      state.pending.delete(frame.client_id);
      pending.userEntry.id = frame.user_message_id;
      pending.userEntry.status = "complete";
      pending.userEntry.conversationId = frame.conversation_id;
      updateMessageAttributes(pending.userEntry);
      entry = pending.answerEntry;
      if (pending.conversationId === null && state.currentId === null && pending.userEntry.el.isConnected) {
        state.currentId = frame.conversation_id; // the new conversation is now the open one
        setLocation(frame.conversation_id, "replace");
        state.loadToken++;
      }
      refreshConversations();
    } else {
      var regenerating = state.regenerating;
      if (!regenerating || regenerating.conversationId !== frame.conversation_id) return;
      state.regenerating = null;
      clearTimeout(regenerating.timer);
      removeEntry(regenerating.oldEntry); // kept on the server, hidden (superseded)
      state.answers.delete(regenerating.oldEntry.id);
      entry = regenerating.answerEntry;
    }
    entry.id = frame.message_id;
    entry.conversationId = frame.conversation_id;
    if (entry.status === "pending") entry.status = "streaming";
    state.answers.set(entry.id, entry);
    updateMessageAttributes(entry);
    if (entry.stopRequested) sendFrame({ type: "stop", message_id: entry.id });
    updateHeader();
    updateControls();
  }

  function handleToken(frame) {
    var entry = state.answers.get(frame.message_id);
    if (!entry || frame.seq <= entry.lastSeq) return; // unknown, or already applied
    entry.buffer.set(frame.seq, frame.text);
    while (entry.buffer.has(entry.lastSeq + 1)) {
      entry.text += entry.buffer.get(entry.lastSeq + 1);
      entry.buffer.delete(entry.lastSeq + 1);
      entry.lastSeq += 1;
    }
    if (entry.buffer.size && !entry.gapTimer) {
      // A frame is missing: ask for everything after the last one applied.
      entry.gapTimer = window.setTimeout(function () {
        entry.gapTimer = 0;
        if (entry.buffer.size) sendFrame({ type: "resume", message_id: entry.id, after_seq: entry.lastSeq });
      }, GAP_RESUME_DELAY_MS);
    }
    if (entry.status === "pending") {
      entry.status = "streaming";
      updateMessageAttributes(entry);
    }
    scheduleRender(entry);
  }

  function handleDone(frame) {
    var entry = state.answers.get(frame.message_id);
    if (!entry) {
      refreshConversationsTwice();
      return;
    }
    if (frame.seq > entry.lastSeq && !entry.recovering) {
      // Frames are missing: a resume of an ended answer sends them, then `done` again.
      entry.recovering = true;
      if (sendFrame({ type: "resume", message_id: entry.id, after_seq: entry.lastSeq })) return;
    }
    clearTimeout(entry.gapTimer);
    entry.gapTimer = 0;
    entry.buffer.clear();
    entry.recovering = false;
    var wasFinal = isFinal(entry.status);
    entry.status = statusFor(frame.finish_reason);
    entry.finishReason = frame.finish_reason;
    entry.error = frame.error || null;
    entry.stopRequested = false;
    renderNow(entry);
    updateControls();
    if (!wasFinal) refreshConversationsTwice();
  }

  function handleError(frame) {
    var detail = frame.detail || "The request was refused.";
    if (frame.client_id) {
      var pending = state.pending.get(frame.client_id);
      if (pending) failPending(pending, detail);
      else showNotice(detail);
      return;
    }
    if (frame.code === "not_streaming") {
      // A stop that crossed the end of the answer: its `done` says how it ended.
      return;
    }
    if (state.regenerating && frame.code !== "invalid_json") {
      failRegenerate(detail);
      return;
    }
    showNotice(detail);
  }

  // --- the socket --------------------------------------------------------------------------

  var socket = null;
  var reconnectDelay = RECONNECT_MIN_MS;
  var reconnectTimer = 0;
  var sessionGone = false;

  function socketUrl() {
    return (window.location.protocol === "https:" ? "wss://" : "ws://") + window.location.host + "/ws/chat";
  }

  function socketOpen() {
    return !!socket && socket.readyState === WebSocket.OPEN;
  }

  function sendFrame(frame) {
    if (!socketOpen()) return false;
    socket.send(JSON.stringify(frame));
    return true;
  }

  function setConnection(stateName, text) {
    els.connection.setAttribute("data-state", stateName);
    els.connection.textContent = text;
  }

  function connect() {
    if (sessionGone) return;
    clearTimeout(reconnectTimer);
    reconnectTimer = 0;
    var ws;
    try {
      ws = new WebSocket(socketUrl());
    } catch (_) {
      scheduleReconnect();
      return;
    }
    socket = ws;
    ws.addEventListener("open", function () {
      if (socket !== ws) return;
      reconnectDelay = RECONNECT_MIN_MS;
      setConnection("open", "Connected");
      onConnected();
    });
    ws.addEventListener("message", function (event) {
      if (socket !== ws) return;
      var frame;
      try {
        frame = JSON.parse(event.data);
      } catch (_) {
        return;
      }
      if (frame && typeof frame.type === "string") handleFrame(frame);
    });
    ws.addEventListener("close", function (event) {
      if (socket !== ws) return;
      socket = null;
      if (event.code === 4401) {
        sessionGone = true;
        setConnection("closed", "Signed out");
        state.pending.forEach(function (p) {
          failPending(p, "Your session has ended. Reload the page to start a new one.");
        });
        return;
      }
      setConnection("reconnecting", "Reconnecting…");
      scheduleReconnect();
    });
  }

  function scheduleReconnect() {
    if (reconnectTimer || sessionGone) return;
    var delay = Math.round(reconnectDelay * (0.85 + Math.random() * 0.3));
    reconnectDelay = Math.min(reconnectDelay * 2, RECONNECT_MAX_MS);
    reconnectTimer = window.setTimeout(function () {
      reconnectTimer = 0;
      connect();
    }, Math.min(delay, RECONNECT_MAX_MS));
  }

  function reconnectNow() {
    if (socket || sessionGone) return;
    reconnectDelay = RECONNECT_MIN_MS;
    connect();
  }

  function onConnected() {
    // Messages never acknowledged are sent again with the same client_id (not stored twice).
    state.pending.forEach(sendMessageFrame);
    // A regenerate without an ack may or may not have reached the server: reload to see.
    if (state.regenerating) {
      var conversationId = state.regenerating.conversationId;
      failRegenerate(null);
      if (state.currentId === conversationId) openConversation(conversationId, { history: "none" });
    }
    // Answers in progress continue from the last frame applied.
    state.answers.forEach(function (entry) {
      if (entry.status !== "streaming" && !entry.recovering) return;
      sendFrame({ type: "resume", message_id: entry.id, after_seq: entry.lastSeq });
      if (entry.stopRequested) sendFrame({ type: "stop", message_id: entry.id });
    });
    refreshConversations();
  }

  // --- sidebar on small screens ------------------------------------------------------------

  function setSidebar(open) {
    els.app.classList.toggle("sidebar-open", open);
    els.sidebarToggle.setAttribute("aria-expanded", open ? "true" : "false");
    els.sidebarToggle.setAttribute("aria-label", open ? "Hide conversations" : "Show conversations");
    els.backdrop.hidden = !open;
    if (open) els.newChat.focus();
  }

  function closeSidebarOnSmallScreens() {
    if (els.app.classList.contains("sidebar-open")) setSidebar(false);
  }

  // --- wiring ------------------------------------------------------------------------------

  els.form.addEventListener("submit", function (event) {
    event.preventDefault();
    sendMessage();
  });
  els.composer.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey && !event.altKey && !event.ctrlKey && !event.metaKey) {
      if (event.isComposing || event.keyCode === 229) return; // an IME is composing text
      event.preventDefault();
      sendMessage();
    }
  });
  els.composer.addEventListener("input", updateComposer);
  els.stop.addEventListener("click", stopAnswer);
  els.regenerate.addEventListener("click", regenerate);
  els.newChat.addEventListener("click", function () {
    newChat({ history: "push" });
    els.composer.focus();
  });
  els.sidebarToggle.addEventListener("click", function () {
    setSidebar(!els.app.classList.contains("sidebar-open"));
  });
  els.backdrop.addEventListener("click", function () {
    setSidebar(false);
  });
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && els.app.classList.contains("sidebar-open")) {
      setSidebar(false);
      els.sidebarToggle.focus();
    }
  });
  window.addEventListener("popstate", syncFromLocation);
  window.addEventListener("hashchange", syncFromLocation);
  window.addEventListener("online", reconnectNow);
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible") reconnectNow();
  });

  setConnection("connecting", "Connecting…");
  connect();
  refreshConversations();
  var initialId = idFromHash();
  if (initialId !== null) openConversation(initialId, { history: "none" });
  else newChat({ history: "none" });
  els.composer.focus();
})();
