/* The conversation sidebar as a drawer on small screens (a backdrop closes it). */

import { t } from "./i18n.js";

/** els: {app, sidebarToggle, backdrop, newChat}. */
export function createSidebar({ els }) {
  function isOpen() {
    return els.app.classList.contains("sidebar-open");
  }

  function set(open, options) {
    els.app.classList.toggle("sidebar-open", open);
    els.sidebarToggle.setAttribute("aria-expanded", open ? "true" : "false");
    els.sidebarToggle.setAttribute("aria-label", t(open ? "hide_conversations" : "show_conversations"));
    els.backdrop.hidden = !open;
    if (open && !(options && options.keepFocus)) els.newChat.focus();
  }

  function closeOnSmallScreens() {
    if (isOpen()) set(false);
  }

  els.sidebarToggle.addEventListener("click", () => set(!isOpen()));
  els.backdrop.addEventListener("click", () => set(false));
  set(false, { keepFocus: true });
  return { isOpen, set, closeOnSmallScreens };
}
