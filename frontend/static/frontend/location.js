/* The open conversation in the address: #c=<id>, so reloads and the back button keep it. */

export function idFromHash() {
  const match = /(?:^#|&)c=(\d+)(?:&|$)/.exec(window.location.hash);
  return match ? Number(match[1]) : null;
}

/** history: "push" (a new history entry), "replace" or "none". */
export function setLocation(id, history) {
  if (history === "none") return;
  const here = window.location.pathname + window.location.search;
  const url = here + (id === null ? "" : "#c=" + id);
  if (url === here + window.location.hash) return;
  if (history === "push") window.history.pushState(null, "", url);
  else window.history.replaceState(null, "", url);
}
