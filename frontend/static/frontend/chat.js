/* The web chat page: conversation list (REST), one WebSocket for every answer, streaming
 * rendering, stop / regenerate / resume, web sources, safety notes, reports, settings.
 * The wire contract is docs/protocol.md. Plain script, no build step; theme.js
 * (window.assistantTheme), i18n.js (window.i18n), vendor/highlight.min.js (window.hljs) and
 * markdown.js (window.renderMarkdown) load first.
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
  var FINAL_STATUSES = ["complete", "cancelled", "error", "interrupted", "blocked"];
  var MAX_ANNOUNCEMENTS = 20; // sentences kept in the screen-reader live region
  var SENTENCE_END = /[.!?。！？।]["')\]]*(?=\s)|\n\n/g;
  var COPIED_RESET_MS = 2000;
  var FRIENDLY_ERRORS = ["model_unavailable", "service_unavailable", "safety_unavailable", "context_too_long"];

  var t = window.i18n.t;

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
    search: byId("conversation-search"),
    noMatch: byId("conversation-no-match"),
    announcer: byId("announcer"),
    themeToggle: byId("theme-toggle"),
    settingsOpen: byId("settings-open"),
    settingsDialog: byId("settings-dialog"),
    languageSelect: byId("language-select"),
    themeSelect: byId("theme-select"),
    searchModeSelect: byId("search-mode-select"),
    settingsStatus: byId("settings-status"),
    reportDialog: byId("report-dialog"),
    reportReason: byId("report-reason"),
  };

  var maxChars = parseInt(document.body.getAttribute("data-max-message-chars"), 10) || 4000;

  // --- state -------------------------------------------------------------------------------
  //
  // An entry is one message on screen or being followed:
  //   {id, role, conversationId, status, text, lastSeq, buffer (seq -> text), finishReason,
  //    error, errorCode, search (the latest `search` frame), sources, searchError,
  //    invalidCitations, codeWarnings, blocked (refusal shown instead of the text), reported,
  //    announced (characters of the shown text already read to screen readers),
  //    el, bodyEl, noteEl, typingEl, extrasEl, actionsEl, stopRequested, recovering}
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
      case "blocked":
        return "blocked";
      default:
        return "interrupted";
    }
  }

  function conversationTitle(conversation) {
    return (conversation && conversation.title && conversation.title.trim()) || t("new_conversation");
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
            var detail = error.detail || t("server_status", { status: response.status });
            if (response.status === 401) detail = t("session_ended");
            throw new ApiError(response.status, error.code || "http_" + response.status, detail);
          }
          return data;
        });
      },
      function () {
        throw new ApiError(0, "network", t("server_unreachable"));
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
    close.setAttribute("aria-label", t("dismiss"));
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
    var shown = state.conversations.filter(matchesSearch);
    shown.forEach(function (conversation) {
      els.list.appendChild(conversationItem(conversation));
    });
    els.listEmpty.hidden = state.conversations.length > 0;
    els.noMatch.hidden = shown.length > 0 || state.conversations.length === 0;
    if (focusedId) {
      var again = els.list.querySelector('[data-conversation-id="' + focusedId + '"] .conversation-open');
      if (again) again.focus();
    }
  }

  /** The list filter: every word typed must occur in the title, ignoring case and accents. */
  function matchesSearch(conversation) {
    var words = foldForSearch(els.search.value).split(/\s+/).filter(Boolean);
    var title = foldForSearch(conversationTitle(conversation));
    return words.every(function (word) {
      return title.indexOf(word) !== -1;
    });
  }

  function foldForSearch(text) {
    return text.normalize("NFD").replace(/[\u0300-\u036f]/g, "").toLocaleLowerCase();
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
    var rename = iconButton("conversation-rename", "✎", t("rename", { title: title }));
    rename.addEventListener("click", function (event) {
      event.stopPropagation();
      startRename(item, conversation);
    });
    var remove = iconButton("conversation-delete", "🗑", t("delete", { title: title }));
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
    input.setAttribute("aria-label", t("new_title_for", { title: conversationTitle(conversation) }));
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
        showNotice(t("title_length"));
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
    if (!window.confirm(t("confirm_delete", { title: title }))) return;
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
    var title = t("new_chat");
    if (state.currentId !== null) {
      var conversation = state.conversations.find(function (c) {
        return c.id === state.currentId;
      });
      title = conversation ? conversationTitle(conversation) : t("conversation");
    }
    els.title.textContent = title;
    document.title = state.currentId === null ? "Assistant" : title + " · Assistant";
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
      errorCode: null,
      search: null,
      sources: [],
      searchError: null,
      invalidCitations: [],
      codeWarnings: [],
      image: null,
      blocked: null,
      reported: false,
      announced: 0,
      el: null,
      bodyEl: null,
      noteEl: null,
      typingEl: null,
      extrasEl: null,
      actionsEl: null,
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
    var blocked = message.status === "blocked";
    return newEntry({
      id: message.id,
      role: message.role,
      conversationId: conversationId,
      status: message.status,
      text: blocked ? "" : message.content || "",
      lastSeq: message.seq || 0,
      finishReason: message.finish_reason,
      error: message.error,
      sources: message.sources || [],
      searchError: message.search_error || null,
      invalidCitations: message.invalid_citations || [],
      codeWarnings: message.code_warnings || [],
      image: message.image || null,
      blocked: blocked ? message.content || t("note_blocked") : null,
      // A finished stored answer is not read out again; a resumed one is, from its start.
      announced: isFinal(message.status) ? Infinity : 0,
    });
  }

  function buildMessageEl(entry) {
    var item = document.createElement("li");
    item.className = "message message-" + entry.role;
    item.setAttribute("data-testid", "message");
    item.setAttribute("data-role", entry.role);
    var who = document.createElement("span");
    who.className = "visually-hidden message-who";
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
    entry.el = item;
    entry.bodyEl = body;
    entry.noteEl = note;
    if (entry.role === "assistant") {
      entry.typingEl = typingIndicator();
      bubble.insertBefore(entry.typingEl, body);
      entry.extrasEl = document.createElement("div");
      entry.extrasEl.className = "message-extras";
      entry.actionsEl = document.createElement("div");
      entry.actionsEl.className = "message-actions";
      item.appendChild(entry.extrasEl);
    }
    item.appendChild(note);
    if (entry.actionsEl) item.appendChild(entry.actionsEl);
    labelMessage(entry);
    updateMessageAttributes(entry);
    renderBody(entry);
    return item;
  }

  function labelMessage(entry) {
    entry.el.querySelector(".message-who").textContent = t(entry.role === "user" ? "you_said" : "assistant_said");
  }

  function typingIndicator() {
    var typing = document.createElement("span");
    typing.className = "typing";
    typing.setAttribute("data-testid", "typing");
    typing.hidden = true;
    for (var i = 0; i < 3; i++) {
      var dot = document.createElement("span");
      dot.className = "typing-dot";
      dot.setAttribute("aria-hidden", "true");
      typing.appendChild(dot);
    }
    var label = document.createElement("span");
    label.className = "visually-hidden typing-label";
    typing.appendChild(label);
    return typing;
  }

  function updateMessageAttributes(entry) {
    if (!entry.el) return;
    if (entry.id !== null) entry.el.setAttribute("data-message-id", String(entry.id));
    entry.el.setAttribute("data-status", entry.status);
    var busy = entry.status === "pending" || entry.status === "streaming";
    if (busy) entry.el.setAttribute("aria-busy", "true");
    else entry.el.removeAttribute("aria-busy");
    renderNote(entry);
    renderExtras(entry);
    renderActions(entry);
  }

  function renderBody(entry) {
    if (!entry.bodyEl) return;
    if (entry.role !== "assistant") {
      entry.bodyEl.textContent = entry.text;
      return;
    }
    if (entry.blocked !== null) {
      entry.bodyEl.textContent = "";
      var refusal = document.createElement("p");
      refusal.className = "blocked";
      refusal.setAttribute("data-testid", "blocked");
      refusal.textContent = entry.blocked;
      entry.bodyEl.appendChild(refusal);
    } else {
      renderAnswer(entry.bodyEl, entry.text, {
        sources: entry.sources,
        invalidCitations: entry.invalidCitations,
        final: isFinal(entry.status),
      });
      if (entry.image) entry.bodyEl.appendChild(imageFigure(entry.image));
    }
    var busy = entry.status === "pending" || entry.status === "streaming";
    entry.typingEl.hidden = !busy || entry.text !== "" || entry.blocked !== null;
    entry.typingEl.querySelector(".typing-label").textContent = t("typing");
    announceProgress(entry);
  }

  /** The picture answering `/imagine <prompt>`: alt text is the prompt; it can be downloaded. */
  function imageFigure(image) {
    var figure = document.createElement("figure");
    figure.className = "thread-image";
    figure.setAttribute("data-testid", "thread-image");
    var picture = document.createElement("img");
    picture.src = image.url;
    picture.alt = image.prompt;
    picture.width = image.width;
    picture.height = image.height;
    var download = document.createElement("a");
    download.className = "thread-image-download";
    download.setAttribute("data-testid", "thread-image-download");
    download.href = image.url;
    download.download = "imagine-" + image.id + ".png";
    download.textContent = t("download_image");
    figure.appendChild(picture);
    figure.appendChild(download);
    return figure;
  }

  /** Answer text into `container`: sanitised markdown, citations, code blocks with copy buttons
   * and (when `options.final`) syntax colours. Also window.renderAnswer, for the browser tests. */
  function renderAnswer(container, text, options) {
    container.innerHTML = window.renderMarkdown(text, {
      sources: options.sources || [],
      invalidCitations: options.invalidCitations || [],
      invalidCitationTitle: function (number) {
        return t("invalid_citation", { number: number });
      },
    });
    decorateCodeBlocks(container, !!options.final);
  }

  /** A copy button on every code block; syntax colours once the answer is final (not per frame). */
  function decorateCodeBlocks(body, final) {
    body.querySelectorAll("pre > code").forEach(function (code) {
      var pre = code.parentNode;
      var block = document.createElement("div");
      block.className = "code-block";
      pre.parentNode.replaceChild(block, pre);
      var bar = document.createElement("div");
      bar.className = "code-bar";
      var language = document.createElement("span");
      language.className = "code-language";
      language.textContent = (code.className.match(/language-([\w+-]+)/) || ["", ""])[1];
      var copy = document.createElement("button");
      copy.type = "button";
      copy.className = "icon-button code-copy";
      copy.setAttribute("data-testid", "copy-code");
      copy.setAttribute("aria-label", t("copy_code"));
      copy.textContent = t("copy");
      bar.appendChild(language);
      bar.appendChild(copy);
      block.appendChild(bar);
      block.appendChild(pre);
      if (final) highlight(code, language.textContent);
    });
  }

  function highlight(code, language) {
    if (!window.hljs) return;
    if (language && window.hljs.getLanguage(language)) window.hljs.highlightElement(code);
    else if (!language) {
      code.innerHTML = window.hljs.highlightAuto(code.textContent).value; // hljs escapes the text
      code.classList.add("hljs");
    }
  }

  function copyText(button, text) {
    var done = function (key) {
      button.textContent = t(key);
      window.setTimeout(function () {
        button.textContent = t("copy");
      }, COPIED_RESET_MS);
    };
    if (!navigator.clipboard) return done("copy_failed"); // only secure pages may write it
    navigator.clipboard.writeText(text).then(
      function () {
        done("copied");
      },
      function () {
        done("copy_failed");
      }
    );
  }

  function renderNote(entry) {
    var note = entry.noteEl;
    if (!note) return;
    var text = "";
    var kind = "";
    if (entry.status === "cancelled") {
      text = t("note_stopped");
      kind = "stopped";
    } else if (entry.status === "error") {
      text = FRIENDLY_ERRORS.indexOf(entry.errorCode) !== -1
        ? t(entry.errorCode)
        : t("note_error", { detail: entry.error || t("error_default") });
      kind = "error";
    } else if (entry.status === "interrupted") {
      text = t("note_interrupted", { detail: entry.error || t("interrupted_default") });
      kind = "error";
    } else if (entry.status === "complete" && entry.finishReason === "length") {
      text = t("note_length");
      kind = "length";
    } else if (entry.status === "sending") {
      text = t("note_sending");
      kind = "sending";
    }
    note.textContent = text;
    note.setAttribute("data-kind", kind);
    note.hidden = !text;
  }

  /** Search progress, the numbered sources, a failed search and Code Shield's warnings. */
  function renderExtras(entry) {
    var box = entry.extrasEl;
    if (!box) return;
    box.textContent = "";
    var busy = entry.status === "pending" || entry.status === "streaming";
    if (busy && entry.search && entry.search.status === "searching" && !entry.text) {
      box.appendChild(searchProgress(entry.search));
    }
    if (entry.blocked !== null) return;
    if (entry.sources.length) box.appendChild(sourcesPanel(entry.sources));
    if (entry.searchError) {
      // Our sentence in the page's language; the server's reason (in English) on hover.
      var failed = extraNote("search-error", t("search_failed"));
      failed.title = entry.searchError;
      box.appendChild(failed);
    }
    if (entry.codeWarnings.length) box.appendChild(codeWarningsNote(entry.codeWarnings));
  }

  function searchProgress(search) {
    var urls = search.urls || [];
    var text = urls.length ? t("reading_link", { link: hostOf(urls[0]) }) : t("searching_web");
    var status = extraNote("search-status", text);
    status.setAttribute("role", "status");
    return status;
  }

  function sourcesPanel(sources) {
    var panel = document.createElement("section");
    panel.className = "sources";
    panel.setAttribute("data-testid", "sources");
    var heading = document.createElement("h3");
    heading.textContent = t("sources");
    var list = document.createElement("ol");
    sources.forEach(function (source) {
      var item = document.createElement("li");
      item.value = source.number;
      var safe = /^https?:\/\//i.test(source.url);
      var link = document.createElement(safe ? "a" : "span");
      if (safe) {
        link.href = source.url;
        link.rel = "noopener noreferrer nofollow";
        link.target = "_blank";
      }
      link.textContent = source.title || source.url;
      var host = document.createElement("span");
      host.className = "source-host";
      host.textContent = hostOf(source.url);
      item.appendChild(link);
      item.appendChild(host);
      list.appendChild(item);
    });
    panel.appendChild(heading);
    panel.appendChild(list);
    return panel;
  }

  function codeWarningsNote(warnings) {
    var box = extraNote("code-warnings", t("code_warnings"));
    box.setAttribute("data-testid", "code-warnings");
    var list = document.createElement("ul");
    warnings.forEach(function (warning) {
      var item = document.createElement("li");
      item.textContent = t("code_warning_line", warning);
      list.appendChild(item);
    });
    box.appendChild(list);
    return box;
  }

  function extraNote(className, text) {
    var note = document.createElement("div");
    note.className = "extra " + className;
    var paragraph = document.createElement("p");
    paragraph.textContent = text;
    note.appendChild(paragraph);
    return note;
  }

  function hostOf(url) {
    try {
      return new URL(url).hostname;
    } catch (_) {
      return url;
    }
  }

  /** Copy and Report under every finished answer. */
  function renderActions(entry) {
    var bar = entry.actionsEl;
    if (!bar) return;
    bar.textContent = "";
    bar.hidden = entry.id === null || !isFinal(entry.status);
    if (bar.hidden) return;
    if (entry.blocked === null && entry.text) {
      var copy = document.createElement("button");
      copy.type = "button";
      copy.className = "icon-button answer-copy";
      copy.textContent = t("copy");
      copy.addEventListener("click", function () {
        copyText(copy, entry.text);
      });
      bar.appendChild(copy);
    }
    var report = document.createElement("button");
    report.type = "button";
    report.className = "icon-button report";
    report.setAttribute("data-testid", "report");
    report.textContent = t(entry.reported ? "reported" : "report");
    report.disabled = entry.reported;
    report.addEventListener("click", function () {
      openReport(entry);
    });
    bar.appendChild(report);
  }

  // --- screen readers: streamed text is announced once per sentence, not once per frame ----

  function announceProgress(entry) {
    if (entry.announced === Infinity || !entry.bodyEl || state.view.indexOf(entry) === -1) return;
    var shown = entry.blocked !== null ? entry.blocked : entry.bodyEl.textContent;
    var final = isFinal(entry.status);
    var end = final ? shown.length : lastSentenceEnd(shown, entry.announced);
    if (end <= entry.announced) return;
    announce(shown.slice(entry.announced, end));
    entry.announced = final ? Infinity : end;
  }

  function lastSentenceEnd(text, from) {
    var end = from;
    var match;
    SENTENCE_END.lastIndex = from;
    while ((match = SENTENCE_END.exec(text))) end = match.index + match[0].length;
    return end;
  }

  function announce(text) {
    var clean = text.replace(/\s+/g, " ").trim();
    if (!clean) return;
    while (els.announcer.children.length >= MAX_ANNOUNCEMENTS) els.announcer.firstElementChild.remove();
    var line = document.createElement("p");
    line.textContent = clean;
    els.announcer.appendChild(line);
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
    els.stop.textContent = t(streaming && streaming.stopRequested ? "stopping" : "stop");
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
      els.counter.textContent = t(tooLong ? "characters_over" : "characters", {
        count: count,
        max: maxChars,
        over: count - maxChars,
      });
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
          showNotice(t("conversation_gone"));
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
      showNotice(t("not_connected"));
      return;
    }
    var answerEntry = newEntry({ role: "assistant", conversationId: state.currentId, status: "pending" });
    last.el.classList.add("superseding");
    var regenerating = { conversationId: state.currentId, oldEntry: last, answerEntry: answerEntry, timer: 0 };
    state.regenerating = regenerating;
    appendEntry(answerEntry);
    regenerating.timer = window.setTimeout(function () {
      if (state.regenerating === regenerating) failRegenerate(t("server_no_answer"));
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
      case "search":
        return handleSearch(frame);
      case "blocked":
        return handleBlocked(frame);
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
    entry.errorCode = frame.error_code || null;
    entry.invalidCitations = frame.invalid_citations || [];
    entry.codeWarnings = frame.code_warnings || [];
    entry.image = frame.image || null;
    if (frame.finish_reason === "blocked") entry.blocked = frame.error || entry.blocked || t("note_blocked");
    entry.stopRequested = false;
    renderNow(entry);
    updateControls();
    if (!wasFinal) refreshConversationsTwice();
  }

  function handleSearch(frame) {
    var entry = state.answers.get(frame.message_id);
    if (!entry) return;
    entry.search = frame;
    if (frame.status === "done") {
      entry.sources = frame.sources || [];
      entry.searchError = frame.error || null;
      scheduleRender(entry); // citations already shown become links
    }
    renderExtras(entry);
  }

  function handleBlocked(frame) {
    var entry = state.answers.get(frame.message_id);
    if (!entry) return;
    entry.blocked = frame.detail;
    entry.announced = 0; // what was read out is retracted: read the refusal instead
    renderNow(entry);
  }

  /** The sentence to show for a refused frame: our own words where we have them. */
  function friendlyError(frame) {
    if ((frame.code === "rate_limited" || frame.code === "quota_exceeded") && frame.retry_after) {
      return t(frame.code, { when: window.i18n.inSeconds(frame.retry_after) });
    }
    if (FRIENDLY_ERRORS.indexOf(frame.code) !== -1) return t(frame.code);
    return frame.detail || t("request_refused");
  }

  function handleError(frame) {
    var detail = friendlyError(frame);
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

  var CONNECTION_LABELS = {
    connecting: "connecting",
    open: "connected",
    reconnecting: "reconnecting",
    closed: "signed_out",
  };

  function setConnection(stateName) {
    els.connection.setAttribute("data-state", stateName);
    els.connection.textContent = t(CONNECTION_LABELS[stateName]);
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
      setConnection("open");
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
        setConnection("closed");
        state.pending.forEach(function (p) {
          failPending(p, t("session_ended"));
        });
        return;
      }
      setConnection("reconnecting");
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

  function setSidebar(open, options) {
    els.app.classList.toggle("sidebar-open", open);
    els.sidebarToggle.setAttribute("aria-expanded", open ? "true" : "false");
    els.sidebarToggle.setAttribute("aria-label", t(open ? "hide_conversations" : "show_conversations"));
    els.backdrop.hidden = !open;
    if (open && !(options && options.keepFocus)) els.newChat.focus();
  }

  function closeSidebarOnSmallScreens() {
    if (els.app.classList.contains("sidebar-open")) setSidebar(false);
  }

  // --- reports -----------------------------------------------------------------------------

  var reporting = null; // the answer being reported while the report dialog is open

  function openReport(entry) {
    reporting = entry;
    els.reportReason.value = "";
    els.reportDialog.returnValue = ""; // Esc keeps the last value: an old "send" must not count
    els.reportDialog.showModal();
    els.reportReason.focus();
  }

  function sendReport() {
    var target = reporting;
    reporting = null;
    if (!target || els.reportDialog.returnValue !== "send") return;
    var reason = els.reportReason.value.trim();
    api("POST", "/api/messages/" + target.id + "/report", reason ? { reason: reason } : {}).then(
      function () {
        target.reported = true;
        renderActions(target);
        showNotice(t("report_thanks"), "info");
      },
      function (error) {
        showNotice(error.detail);
      }
    );
  }

  // --- settings: theme, language and search mode, all kept on the account ------------------

  function renderThemeToggle() {
    var dark = window.assistantTheme.effective() === "dark";
    els.themeToggle.setAttribute("aria-pressed", dark ? "true" : "false");
    var label = t(dark ? "switch_to_light" : "switch_to_dark");
    els.themeToggle.setAttribute("aria-label", label);
    els.themeToggle.title = label;
    els.themeToggle.querySelector(".theme-icon").textContent = dark ? "☀" : "☾";
    els.themeSelect.value = window.assistantTheme.saved();
  }

  function openSettings() {
    els.settingsStatus.textContent = "";
    renderThemeToggle();
    els.settingsDialog.showModal();
    api("GET", "/api/settings").then(showAccountSettings, function (error) {
      els.settingsStatus.textContent = error.detail;
    });
  }

  function showAccountSettings(settings) {
    els.searchModeSelect.value = settings.search_mode;
    els.searchModeSelect.disabled = false;
    if (settings.daily_token_quota) {
      els.settingsStatus.textContent = t("tokens_today", {
        used: settings.tokens_used_today.toLocaleString(window.i18n.language()),
        quota: settings.daily_token_quota.toLocaleString(window.i18n.language()),
      });
    }
  }

  function saveSearchMode() {
    els.searchModeSelect.disabled = true;
    api("PATCH", "/api/settings", { search_mode: els.searchModeSelect.value }).then(
      function (settings) {
        showAccountSettings(settings);
        els.settingsStatus.textContent = t("settings_saved");
      },
      function (error) {
        els.searchModeSelect.disabled = false;
        els.settingsStatus.textContent = error.detail;
      }
    );
  }

  /** The server renders pages and this page's catalogue in the account's language: one reload. */
  function saveLanguage() {
    els.languageSelect.disabled = true;
    api("PATCH", "/api/settings", { language: els.languageSelect.value }).then(
      function () {
        window.location.reload();
      },
      function (error) {
        els.languageSelect.disabled = false;
        els.settingsStatus.textContent = error.detail;
      }
    );
  }

  /** Applied at once, then saved so the account's other browsers open with it too. */
  function chooseTheme(theme) {
    window.assistantTheme.set(theme);
    renderThemeToggle();
    api("PATCH", "/api/settings", { theme: theme }).catch(function (error) {
      showNotice(error.detail);
    });
  }

  // --- keyboard shortcuts ------------------------------------------------------------------

  function typingInField(target) {
    return target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName));
  }

  function onShortcut(event) {
    // Handled already (e.g. Esc in the rename box), or a dialog is open and handles its own keys.
    if (event.defaultPrevented || document.querySelector("dialog[open]")) return;
    if ((event.ctrlKey || event.metaKey) && !event.altKey && event.key.toLowerCase() === "k") {
      event.preventDefault();
      newChat({ history: "push" });
      els.composer.focus();
    } else if (event.key === "Escape" && els.app.classList.contains("sidebar-open")) {
      setSidebar(false);
      els.sidebarToggle.focus();
    } else if (event.key === "Escape" && streamingEntryHere()) {
      event.preventDefault();
      stopAnswer();
    } else if (event.key === "/" && !typingInField(event.target) && !event.ctrlKey && !event.metaKey) {
      event.preventDefault();
      els.composer.focus();
    }
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
  document.addEventListener("keydown", onShortcut);
  els.search.addEventListener("input", renderConversationList);
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest(".code-copy");
    if (button) copyText(button, button.closest(".code-block").querySelector("code").textContent);
  });
  els.themeToggle.addEventListener("click", function () {
    chooseTheme(window.assistantTheme.effective() === "dark" ? "light" : "dark");
  });
  els.themeSelect.addEventListener("change", function () {
    chooseTheme(els.themeSelect.value);
  });
  window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", renderThemeToggle);
  els.languageSelect.addEventListener("change", saveLanguage);
  els.settingsOpen.addEventListener("click", openSettings);
  els.searchModeSelect.addEventListener("change", saveSearchMode);
  els.reportDialog.addEventListener("close", sendReport);
  window.addEventListener("popstate", syncFromLocation);
  window.addEventListener("hashchange", syncFromLocation);
  window.addEventListener("online", reconnectNow);
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible") reconnectNow();
  });

  window.renderAnswer = renderAnswer;
  setConnection("connecting");
  setSidebar(false, { keepFocus: true });
  renderThemeToggle();
  connect();
  refreshConversations();
  var initialId = idFromHash();
  if (initialId !== null) openConversation(initialId, { history: "none" });
  else newChat({ history: "none" });
  els.composer.focus();
})();
