/* The strings the page's scripts write, in the page's language: t(key, params) and friends.
 *
 * The server renders the page in the account's language (Django templates; <html lang> says
 * which) and serves this language's catalogue at /jsi18n/<lang>/ (Django's JavaScriptCatalog, a
 * classic deferred script that runs before any module and defines window.django). Catalogue
 * msgids are keys (locale/en/LC_MESSAGES/djangojs.po holds the English text); a key a language
 * lacks gets the English text, which Django merges under every catalogue; a key missing even
 * there shows itself.
 *
 * Markup built by scripts can carry data-i18n="key" (its text), data-i18n-attr="placeholder:key
 * aria-label:key" (attributes) and data-i18n-name (fills {name}); apply(root) translates it.
 * Changing the language saves it on the account and reloads the page (settings.js). The same
 * functions are window.i18n, for scripts that are not modules.
 */

const catalogue = window.django;
const current = document.documentElement.lang || "en";

function lookup(key) {
  return catalogue ? catalogue.gettext(key) : key; // catalogue unreachable: keys beat a broken page
}

/** The string for `key` in the page's language with {name} placeholders filled in. */
export function t(key, params) {
  return lookup(key).replace(/\{(\w+)\}/g, (whole, name) =>
    params && params[name] !== undefined ? String(params[name]) : whole
  );
}

export function apply(root) {
  const scope = root || document;
  scope.querySelectorAll("[data-i18n]").forEach((el) => {
    el.textContent = t(el.getAttribute("data-i18n"), { name: el.getAttribute("data-i18n-name") });
  });
  scope.querySelectorAll("[data-i18n-attr]").forEach((el) => {
    el.getAttribute("data-i18n-attr").split(/\s+/).forEach((pair) => {
      const parts = pair.split(":");
      if (parts.length === 2) el.setAttribute(parts[0], t(parts[1], { name: el.getAttribute("data-i18n-name") }));
    });
  });
}

/** "in 30 seconds", "in 2 hours" in the page's language. */
export function inSeconds(seconds) {
  const units = [
    ["day", 86400],
    ["hour", 3600],
    ["minute", 60],
  ];
  const format = new Intl.RelativeTimeFormat(current, { numeric: "auto" });
  for (const [unit, size] of units) {
    if (seconds >= size) return format.format(Math.ceil(seconds / size), unit);
  }
  return format.format(Math.max(1, Math.ceil(seconds)), "second");
}

export function language() {
  return current;
}

window.i18n = { t, apply, inSeconds, language };
