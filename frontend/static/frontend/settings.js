/* The settings dialog and the theme toggle: theme, language and search mode, all kept on the
 * account (PATCH /api/settings), the person's memory (memory_panel.js) and files (files_panel.js),
 * and their data: the archive and account deletion (my_data.js). theme.js (window.assistantTheme) is a
 * classic script that sets the theme before the first paint. */

import { api } from "./api.js";
import { createFilesPanel } from "./files_panel.js";
import { language, t } from "./i18n.js";
import { icon } from "./icons.js";
import { createMemoryPanel } from "./memory_panel.js";
import { createMyDataPanel } from "./my_data.js";

/** els: {themeToggle, settingsOpen, settingsDialog, languageSelect, themeSelect, searchModeSelect,
 * settingsStatus, memorySection, filesSection, myDataSection}; chat: the open conversation's files
 * (files_panel.js). Returns {openMemory, memoryChanged}. */
export function createSettings({ els, showNotice, chat }) {
  const theme = window.assistantTheme;
  const memory = createMemoryPanel({
    section: els.memorySection,
    dialog: els.settingsDialog,
    isGuest: document.body.getAttribute("data-is-guest") === "true",
    signupUrl: els.memorySection.getAttribute("data-signup-url"),
  });
  const files = createFilesPanel({ section: els.filesSection, chat });
  createMyDataPanel({ section: els.myDataSection });

  function renderThemeToggle() {
    const dark = theme.effective() === "dark";
    els.themeToggle.setAttribute("aria-pressed", dark ? "true" : "false");
    const label = t(dark ? "switch_to_light" : "switch_to_dark");
    els.themeToggle.setAttribute("aria-label", label);
    els.themeToggle.title = label;
    els.themeToggle.replaceChildren(icon(dark ? "sun" : "moon"));
    els.themeSelect.value = theme.saved();
  }

  function openSettings() {
    els.settingsStatus.textContent = "";
    renderThemeToggle();
    if (!els.settingsDialog.open) els.settingsDialog.showModal();
    memory.load();
    files.load();
    api("GET", "/api/settings").then(showAccountSettings, (error) => {
      els.settingsStatus.textContent = error.detail;
    });
  }

  function showAccountSettings(settings) {
    els.searchModeSelect.value = settings.search_mode;
    els.searchModeSelect.disabled = false;
    if (settings.daily_token_quota) {
      els.settingsStatus.textContent = t("tokens_today", {
        used: settings.tokens_used_today.toLocaleString(language()),
        quota: settings.daily_token_quota.toLocaleString(language()),
      });
    }
  }

  function saveSearchMode() {
    els.searchModeSelect.disabled = true;
    api("PATCH", "/api/settings", { search_mode: els.searchModeSelect.value }).then(
      (settings) => {
        showAccountSettings(settings);
        els.settingsStatus.textContent = t("settings_saved");
      },
      (error) => {
        els.searchModeSelect.disabled = false;
        els.settingsStatus.textContent = error.detail;
      }
    );
  }

  /** The server renders pages and this page's catalogue in the account's language: one reload. */
  function saveLanguage() {
    els.languageSelect.disabled = true;
    api("PATCH", "/api/settings", { language: els.languageSelect.value }).then(
      () => window.location.reload(),
      (error) => {
        els.languageSelect.disabled = false;
        els.settingsStatus.textContent = error.detail;
      }
    );
  }

  /** Applied at once, then saved so the account's other browsers open with it too. */
  function chooseTheme(name) {
    theme.set(name);
    renderThemeToggle();
    api("PATCH", "/api/settings", { theme: name }).catch((error) => showNotice(error.detail));
  }

  els.themeToggle.addEventListener("click", () => chooseTheme(theme.effective() === "dark" ? "light" : "dark"));
  els.themeSelect.addEventListener("change", () => chooseTheme(els.themeSelect.value));
  window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", renderThemeToggle);
  els.languageSelect.addEventListener("change", saveLanguage);
  els.settingsOpen.addEventListener("click", openSettings);
  els.searchModeSelect.addEventListener("change", saveSearchMode);
  renderThemeToggle();

  return {
    openMemory: (itemId) => {
      openSettings();
      memory.reveal(itemId);
    },
    memoryChanged: memory.refreshIfOpen,
  };
}
