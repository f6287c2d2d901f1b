import { h } from './dom';

/** A table, or a sentence when there is nothing to list. Wide tables scroll inside their box on a phone. */
export function table(caption: string, headers: string[], rows: HTMLTableRowElement[], empty: string, visibleCaption = false): HTMLElement {
  if (rows.length === 0) return h('p', { class: 'empty' }, empty);
  return h(
    'div',
    { class: 'scroll' },
    h(
      'table',
      {},
      h('caption', visibleCaption ? {} : { class: 'visually-hidden' }, caption),
      h('thead', {}, h('tr', {}, ...headers.map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, ...rows),
    ),
  );
}

/** What each container shows now, by the key it was drawn from. */
const rendered = new WeakMap<HTMLElement, string>();

/**
 * Replaces what `container` shows, unless it would show the same (`key`): a list redrawn every
 * few seconds must not take the focus from a keyboard user. When it does change, the element
 * that had the focus (by its data-focus-key) gets it back.
 */
export function replaceKeepingFocus(container: HTMLElement, key: string, render: () => Node[]): void {
  if (rendered.get(container) === key) return;
  const active = document.activeElement;
  const focusKey = active instanceof HTMLElement && container.contains(active) ? active.dataset.focusKey : undefined;
  container.replaceChildren(...render());
  rendered.set(container, key);
  if (focusKey) container.querySelector<HTMLElement>(`[data-focus-key="${CSS.escape(focusKey)}"]`)?.focus();
}

export const ms = (value: number | null | undefined): string => (value === null || value === undefined ? '—' : value >= 10_000 ? `${(value / 1000).toFixed(1)} s` : `${value} ms`);

export const sum = (values: number[]): number => values.reduce((a, b) => a + b, 0);
