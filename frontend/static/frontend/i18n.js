/* The UI language: picks a catalogue (i18n/<lang>.js, loaded before this file), translates the
 * page's marked elements, and offers window.i18n to the other scripts.
 *
 * Markup: data-i18n="key" sets an element's text; data-i18n-attr="placeholder:key aria-label:key"
 * sets attributes; data-i18n-name fills {name} in those strings. The language is the one saved in
 * localStorage, else the page's <html lang> when it has a catalogue, else the browser's, else en.
 */
(function () {
  "use strict";

  var STORAGE_KEY = "assistant.language";
  var FALLBACK = "en";
  var NAMES = {
    en: "English",
    de: "Deutsch",
    fr: "Français",
    it: "Italiano",
    pt: "Português",
    hi: "हिन्दी",
    es: "Español",
    th: "ไทย",
  };
  var catalogues = window.assistantCatalogues || {};

  function supported(tag) {
    var base = String(tag || "").toLowerCase().split("-")[0];
    return NAMES[base] && catalogues[base] ? base : null;
  }

  function savedLanguage() {
    try {
      return window.localStorage.getItem(STORAGE_KEY);
    } catch (_) {
      return null;
    }
  }

  function initialLanguage() {
    var candidates = [savedLanguage(), document.documentElement.lang].concat(navigator.languages || []);
    for (var i = 0; i < candidates.length; i++) {
      var found = supported(candidates[i]);
      if (found) return found;
    }
    return FALLBACK;
  }

  var current = initialLanguage();

  /** The string for `key` in the current language with {name} placeholders filled in. */
  function t(key, params) {
    var table = catalogues[current] || {};
    var text = Object.prototype.hasOwnProperty.call(table, key) ? table[key] : catalogues[FALLBACK][key];
    if (text === undefined) return key;
    return text.replace(/\{(\w+)\}/g, function (whole, name) {
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

  function setLanguage(language) {
    var found = supported(language);
    if (!found) return;
    current = found;
    try {
      window.localStorage.setItem(STORAGE_KEY, found);
    } catch (_) {
      // not saved, but used on this page
    }
    document.documentElement.lang = found;
    apply(document);
    document.dispatchEvent(new CustomEvent("assistant:language", { detail: { language: found } }));
  }

  /** "in 30 seconds", "in 2 hours" in the current language. */
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

  document.documentElement.lang = current;
  apply(document);
  window.i18n = {
    t: t,
    apply: apply,
    setLanguage: setLanguage,
    inSeconds: inSeconds,
    names: NAMES,
    language: function () {
      return current;
    },
  };
})();
