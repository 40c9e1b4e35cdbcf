/* The theme before the first paint (loaded without defer in <head>), and window.assistantTheme
 * to read and change it. "system" follows prefers-color-scheme.
 *
 * The account's theme is on <html data-theme> as the server rendered it; localStorage only caches
 * it for pages without an account (the sign-in page after signing out). Saving a change on the
 * account is the caller's (settings.js, PATCH /api/settings). */
(function () {
  "use strict";

  var STORAGE_KEY = "assistant.theme";
  var THEMES = ["system", "light", "dark"];
  var root = document.documentElement;

  function valid(theme) {
    return THEMES.indexOf(theme) !== -1;
  }

  function cached() {
    try {
      return window.localStorage.getItem(STORAGE_KEY);
    } catch (_) {
      return null; // storage blocked (privacy mode): the account's theme still applies
    }
  }

  function cache(theme) {
    try {
      window.localStorage.setItem(STORAGE_KEY, theme);
    } catch (_) {
      // not cached; the account keeps it
    }
  }

  var current = [root.getAttribute("data-theme"), cached()].filter(valid)[0] || "system";

  function apply(theme) {
    current = theme;
    root.setAttribute("data-theme", theme);
    cache(theme);
  }

  function saved() {
    return current;
  }

  function set(theme) {
    if (valid(theme)) apply(theme);
  }

  /** The theme in effect now: "light" or "dark". */
  function effective() {
    if (current !== "system") return current;
    return window.matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
  }

  apply(current);
  window.assistantTheme = { themes: THEMES, saved: saved, set: set, effective: effective };
})();
