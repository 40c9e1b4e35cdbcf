/* The chat page's keyboard shortcuts (listed in the settings dialog): Ctrl/⌘+K starts a new chat,
 * Esc closes the drawer or stops the answer, / goes to the message box. */

function typingInField(target) {
  return target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName));
}

/** els: {composer, sidebarToggle}; sidebar from sidebar.js; canStop() says an answer is being written. */
export function listenForShortcuts({ els, sidebar, onNewChat, canStop, onStop }) {
  document.addEventListener("keydown", (event) => {
    // Handled already (e.g. Esc in the rename box), or a dialog is open and handles its own keys.
    if (event.defaultPrevented || document.querySelector("dialog[open]")) return;
    if ((event.ctrlKey || event.metaKey) && !event.altKey && event.key.toLowerCase() === "k") {
      event.preventDefault();
      onNewChat();
      els.composer.focus();
    } else if (event.key === "Escape" && sidebar.drawerOpen()) {
      sidebar.set(false);
      els.sidebarToggle.focus();
    } else if (event.key === "Escape" && canStop()) {
      event.preventDefault();
      onStop();
    } else if (event.key === "/" && !typingInField(event.target) && !event.ctrlKey && !event.metaKey) {
      event.preventDefault();
      els.composer.focus();
    }
  });
}
