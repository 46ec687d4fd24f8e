// Escaping for the HTML pages clsa writes (the training report and its parts): every string taken
// from data or configuration passes through esc, so a class named "<b>" cannot change the page.

/** `s` as text safe inside an element or a double- or single-quoted attribute. */
export const esc = (s: unknown): string =>
  String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
