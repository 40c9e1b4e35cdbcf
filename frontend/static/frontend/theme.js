/* Applies the saved theme before the first paint (loaded without defer in <head>), and offers
 * window.assistantTheme to read and change it. "system" follows prefers-color-scheme. */
(function () {
  "use strict";

  var STORAGE_KEY = "assistant.theme";
  var THEMES = ["system", "light", "dark"];

  function saved() {
    try {
      var value = window.localStorage.getItem(STORAGE_KEY);
      return THEMES.indexOf(value) === -1 ? "system" : value;
    } catch (_) {
      return "system"; // storage blocked (privacy mode): the system setting still applies
    }
  }

  function apply(theme) {
    if (theme === "system") document.documentElement.removeAttribute("data-theme");
    else document.documentElement.setAttribute("data-theme", theme);
  }

  function set(theme) {
    if (THEMES.indexOf(theme) === -1) return;
    try {
      window.localStorage.setItem(STORAGE_KEY, theme);
    } catch (_) {
      // not saved, but applied to this page
    }
    apply(theme);
  }

  /** The theme in effect now: "light" or "dark". */
  function effective() {
    var theme = saved();
    if (theme !== "system") return theme;
    return window.matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
  }

  apply(saved());
  window.assistantTheme = { themes: THEMES, saved: saved, set: set, effective: effective };
})();
