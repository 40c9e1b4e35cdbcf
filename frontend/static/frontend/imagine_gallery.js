/* The Imagine panel's gallery: the user's stored pictures and clips, newest first (GET /api/imagine).
 * Every picture (not a clip) has an Edit button. */

import { api } from "./api.js";
import { t } from "./i18n.js";

/** els: {gallery, galleryEmpty}; onSelect(item, event) when a picture (not a clip) is chosen,
 * onEdit(item) when its Edit button is. */
export function createGallery({ els, onSelect, onEdit, onError }) {
  function load() {
    api("GET", "/api/imagine")
      .then((data) => render(data.images || []))
      .catch(onError);
  }

  function render(items) {
    els.gallery.replaceChildren(...items.map(galleryItem));
    els.galleryEmpty.hidden = items.length > 0;
  }

  function galleryItem(item) {
    const li = document.createElement("li");
    li.className = "imagine-gallery-item";
    li.setAttribute("data-testid", "imagine-gallery-item");
    li.setAttribute("data-kind", item.kind);
    li.setAttribute("data-id", String(item.id));
    const open = document.createElement("a");
    open.className = "imagine-gallery-link";
    open.href = item.kind === "clip" ? item.mp4_url : item.url;
    open.title = item.prompt;
    open.appendChild(item.kind === "clip" ? clipMedia(item) : pictureMedia(item));
    li.appendChild(open);
    if (item.kind === "image") {
      open.addEventListener("click", (event) => onSelect(item, event));
      li.appendChild(editButton(item));
    }
    return li;
  }

  function editButton(item) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "button button-quiet imagine-gallery-edit";
    button.setAttribute("data-testid", "imagine-gallery-edit");
    button.textContent = t("imagine_edit");
    button.setAttribute("aria-label", t("imagine_edit_picture", { prompt: item.prompt }));
    button.addEventListener("click", () => onEdit(item));
    return button;
  }

  function clipMedia(item) {
    const video = document.createElement("video");
    video.width = item.width;
    video.height = item.height;
    video.src = item.mp4_url;
    video.muted = true;
    video.loop = true;
    video.autoplay = true;
    video.playsInline = true;
    video.setAttribute("aria-label", item.prompt);
    return video;
  }

  function pictureMedia(item) {
    const picture = document.createElement("img");
    picture.width = item.width;
    picture.height = item.height;
    picture.src = item.url;
    picture.alt = item.prompt;
    picture.loading = "lazy";
    return picture;
  }

  return { load };
}
