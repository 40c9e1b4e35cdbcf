/* The composer's photo kept in the browser (IndexedDB) until it is sent, so a reload loses neither an
 * upload on its way nor a read photo waiting for its message (attachments.js). IndexedDB keeps the
 * File itself (structured clone), which localStorage cannot. One record per account on this browser:
 * {file, uploadId, attachment} (file: null for a photo restored from a refused message; attachment:
 * null until the server has read it). Storage failures (private windows, quota) lose only this
 * convenience, never the upload. */

const DATABASE = "assistant-composer";
const STORE = "pending-photo";

function accountKey() {
  const holder = document.querySelector("[data-account-name]");
  return holder ? holder.getAttribute("data-account-name") : "";
}

function opened() {
  return new Promise((resolve, reject) => {
    const request = window.indexedDB.open(DATABASE, 1);
    request.addEventListener("upgradeneeded", () => request.result.createObjectStore(STORE));
    request.addEventListener("success", () => resolve(request.result));
    request.addEventListener("error", () => reject(request.error));
  });
}

/** Runs `use(store)` in one transaction; resolves to the value of the request it returns, if any. */
async function inStore(mode, use) {
  const database = await opened();
  try {
    return await new Promise((resolve, reject) => {
      const transaction = database.transaction(STORE, mode);
      const request = use(transaction.objectStore(STORE));
      transaction.addEventListener("complete", () => resolve(request ? request.result : undefined));
      transaction.addEventListener("error", () => reject(transaction.error));
      transaction.addEventListener("abort", () => reject(transaction.error));
    });
  } finally {
    database.close();
  }
}

let queue = Promise.resolve(); // one change after another: a late save never undoes a later forget

function quietly(work, fallback) {
  queue = queue.then(work).catch(() => fallback);
  return queue;
}

/** This account's kept photo, or null. */
export function loadPendingPhoto() {
  return quietly(() => inStore("readonly", (store) => store.get(accountKey())).then((found) => found || null), null);
}

export function savePendingPhoto(record) {
  return quietly(() => inStore("readwrite", (store) => store.put(record, accountKey())));
}

export function forgetPendingPhoto() {
  return quietly(() => inStore("readwrite", (store) => store.delete(accountKey())));
}
