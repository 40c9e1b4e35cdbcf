/* The strings the page's scripts write, in the page's language, as window.i18n.
 *
 * The server renders the page in the account's language (Django templates; <html lang> says
 * which) and serves this language's catalogue at /jsi18n/<lang>/ (Django's JavaScriptCatalog,
 * loaded just before this file, defines window.django). Catalogue msgids are keys
 * (locale/en/LC_MESSAGES/djangojs.po holds the English text); a key a language lacks gets the
 * English text, which Django merges under every catalogue; a key missing even there shows itself.
 *
 * Markup built by scripts can carry data-i18n="key" (its text), data-i18n-attr="placeholder:key
 * aria-label:key" (attributes) and data-i18n-name (fills {name}); apply(root) translates it.
 * Changing the language saves it on the account and reloads the page (chat.js, settings).
 */
(function () {
  "use strict";

  var catalogue = window.django;
  var current = document.documentElement.lang || "en";

  function lookup(key) {
    return catalogue ? catalogue.gettext(key) : key; // catalogue unreachable: keys beat a broken page
  }

  /** The string for `key` in the page's language with {name} placeholders filled in. */
  function t(key, params) {
    return lookup(key).replace(/\{(\w+)\}/g, function (whole, name) {
      return params && params[name] !== undefined ? String(params[name]) : whole;
    });
  }

  function apply(root) {
    var scope = root || document;
    scope.querySelectorAll("[data-i18n]").forEach(function (el) {
      el.textContent = t(el.getAttribute("data-i18n"), { name: el.getAttribute("data-i18n-name") });
    });
    scope.querySelectorAll("[data-i18n-attr]").forEach(function (el) {
      el.getAttribute("data-i18n-attr").split(/\s+/).forEach(function (pair) {
        var parts = pair.split(":");
        if (parts.length === 2) el.setAttribute(parts[0], t(parts[1], { name: el.getAttribute("data-i18n-name") }));
      });
    });
  }

  /** "in 30 seconds", "in 2 hours" in the page's language. */
  function inSeconds(seconds) {
    var units = [
      ["day", 86400],
      ["hour", 3600],
      ["minute", 60],
    ];
    var format = new Intl.RelativeTimeFormat(current, { numeric: "auto" });
    for (var i = 0; i < units.length; i++) {
      if (seconds >= units[i][1]) return format.format(Math.ceil(seconds / units[i][1]), units[i][0]);
    }
    return format.format(Math.max(1, Math.ceil(seconds)), "second");
  }

  window.i18n = {
    t: t,
    apply: apply,
    inSeconds: inSeconds,
    language: function () {
      return current;
    },
  };
})();
