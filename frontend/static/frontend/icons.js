/* The page's icons: symbols of one sprite (vendor/icons.svg, built from Lucide's SVGs by
 * vendor.mjs), never font glyphs, so they look the same on every system and screen readers skip them
 * (the button names itself). <html data-icons> holds the sprite's address as the server names it
 * (with its content hash once static files are collected), the same address the templates' icons
 * use (frontend/_icon.html). */

const SPRITE = document.documentElement.getAttribute("data-icons");
const SVG = "http://www.w3.org/2000/svg";

/** An <svg> showing the sprite's symbol `name`, hidden from assistive technology. */
export function icon(name) {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("class", "icon");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("focusable", "false");
  const use = document.createElementNS(SVG, "use");
  use.setAttribute("href", SPRITE + "#" + name);
  svg.appendChild(use);
  return svg;
}

/** A button with only an icon: `label` is its accessible name and its tooltip. */
export function iconButton(className, name, label) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = "icon-button " + className;
  button.setAttribute("aria-label", label);
  button.title = label;
  button.appendChild(icon(name));
  return button;
}
