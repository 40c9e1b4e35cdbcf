/* Suggested prompts on the empty chat page: a click puts one in the message box, to be edited or
 * sent as it is (nothing is sent for the user). */

import { t } from "./i18n.js";

const SUGGESTIONS = ["suggestion_explain", "suggestion_plan", "suggestion_write", "suggestion_code"];

/** Fills `list` (a <ul>) with the suggestions; choose(text) when one is clicked. */
export function showSuggestions(list, choose) {
  list.replaceChildren(
    ...SUGGESTIONS.map((key) => {
      const item = document.createElement("li");
      const button = document.createElement("button");
      button.type = "button";
      button.className = "suggestion";
      button.setAttribute("data-testid", "suggestion");
      button.textContent = t(key);
      button.addEventListener("click", () => choose(button.textContent));
      item.appendChild(button);
      return item;
    })
  );
}
