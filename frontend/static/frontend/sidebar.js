/* The conversation sidebar: a drawer on small screens (a backdrop closes it), a column on desktop
 * that the same toggle folds away, remembered in this browser. */

import { t } from "./i18n.js";

const SMALL_SCREEN = window.matchMedia("(max-width: 800px)");
const COLLAPSED_KEY = "sidebarCollapsed";

/** els: {app, sidebarToggle, backdrop, newChat}. */
export function createSidebar({ els }) {
  function isOpen() {
    return SMALL_SCREEN.matches ? els.app.classList.contains("sidebar-open") : !collapsedOnDesktop();
  }

  function collapsedOnDesktop() {
    return els.app.classList.contains("sidebar-collapsed");
  }

  function label(open) {
    els.sidebarToggle.setAttribute("aria-expanded", open ? "true" : "false");
    els.sidebarToggle.setAttribute("aria-label", t(open ? "hide_conversations" : "show_conversations"));
  }

  function set(open, options) {
    if (SMALL_SCREEN.matches) {
      els.app.classList.toggle("sidebar-open", open);
      els.backdrop.hidden = !open;
    } else {
      els.app.classList.toggle("sidebar-collapsed", !open);
      rememberCollapsed(!open);
    }
    label(open);
    if (open && !(options && options.keepFocus)) els.newChat.focus();
  }

  /** The list is a drawer over the page (small screens) and open: Esc and a chosen chat close it. */
  function drawerOpen() {
    return SMALL_SCREEN.matches && isOpen();
  }

  function closeOnSmallScreens() {
    if (drawerOpen()) set(false);
  }

  /** Crossing the breakpoint: the drawer starts closed, the desktop column as this browser left it. */
  function follow() {
    els.app.classList.remove("sidebar-open");
    els.backdrop.hidden = true;
    els.app.classList.toggle("sidebar-collapsed", storedCollapsed());
    label(isOpen());
  }

  els.sidebarToggle.addEventListener("click", () => set(!isOpen()));
  els.backdrop.addEventListener("click", () => set(false));
  SMALL_SCREEN.addEventListener("change", follow);
  follow();
  return { isOpen, drawerOpen, set, closeOnSmallScreens };
}

function storedCollapsed() {
  try {
    return localStorage.getItem(COLLAPSED_KEY) === "true";
  } catch (_) {
    return false; // storage refused (private mode): the list stays shown
  }
}

function rememberCollapsed(collapsed) {
  try {
    localStorage.setItem(COLLAPSED_KEY, collapsed ? "true" : "false");
  } catch (_) {
    // storage refused: folded for this page only
  }
}
