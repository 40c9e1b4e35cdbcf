/* What the composer is sending, kept in the browser (IndexedDB) until it is sent, so a reload loses
 * neither an upload on its way nor a read photo waiting for its message (attachments.js). IndexedDB
 * keeps the File or Blob itself (structured clone), which localStorage cannot. One record per slot and
 * account on this browser, keyed [slot, account]:
 * - "photo": {file, uploadId, attachment} (file: null for a photo restored from a refused message;
 *   attachment: null until the server has read it);
 * - "voice": {file, uploadId}: a recorded voice message on its way; it is sent the moment it is read.
 * Storage failures (private windows, quota) lose only this convenience, never the upload. */

const DATABASE = "assistant-composer";
const VERSION = 2;
const STORE = "pending-media";
const PHOTO_STORE = "pending-photo"; // version 1: one photo per account, keyed by the account alone

function accountKey() {
  const holder = document.querySelector("[data-account-name]");
  return holder ? holder.getAttribute("data-account-name") : "";
}

/** Version 1's photos move to their ["photo", account] keys, so an upgrade loses no photo. */
function upgrade(request, oldVersion) {
  const database = request.result;
  const media = database.createObjectStore(STORE);
  if (oldVersion < 1 || !database.objectStoreNames.contains(PHOTO_STORE)) return;
  const photos = request.transaction.objectStore(PHOTO_STORE).openCursor();
  photos.addEventListener("success", () => {
    const cursor = photos.result;
    if (!cursor) return database.deleteObjectStore(PHOTO_STORE);
    media.put(cursor.value, ["photo", cursor.key]);
    cursor.continue();
  });
}

function opened() {
  return new Promise((resolve, reject) => {
    const request = window.indexedDB.open(DATABASE, VERSION);
    request.addEventListener("upgradeneeded", (event) => upgrade(request, event.oldVersion));
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

/** This account's kept record of `slot` ("photo" or "voice"), or null. */
export function loadPending(slot) {
  const key = [slot, accountKey()];
  return quietly(() => inStore("readonly", (store) => store.get(key)).then((found) => found || null), null);
}

export function savePending(slot, record) {
  const key = [slot, accountKey()];
  return quietly(() => inStore("readwrite", (store) => store.put(record, key)));
}

export function forgetPending(slot) {
  const key = [slot, accountKey()];
  return quietly(() => inStore("readwrite", (store) => store.delete(key)));
}
