/**
 * Element helpers: everything the web view shows is built with these DOM calls and text
 * nodes, never parsed HTML.
 */

/**
 * Creates an element. Props are attributes, except `testid` (→ `data-testid`) and `on*`
 * (event listeners); `null`, `undefined` and `false` props and children are skipped, and
 * text children stay text.
 *
 * @example
 * h('a', { href: '#/', testid: 'home' }, 'Pipeline'); // <a href="#/" data-testid="home">Pipeline</a>
 */
export function h(tag, props = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === 'testid') element.dataset.testid = value;
    else if (name.startsWith('on')) element.addEventListener(name.slice(2), value);
    else element.setAttribute(name, value === true ? '' : String(value));
  }
  for (const child of children.flat(Number.POSITIVE_INFINITY)) {
    if (child === null || child === undefined || child === false) continue;
    element.append(typeof child === 'number' ? String(child) : child);
  }
  return element;
}

/** A table from a header row and rows of cells; `rowProps` gives each row's attributes. */
export function table(headers, rows, rowProps = () => ({})) {
  return h(
    'table',
    { class: 'grid' },
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        headers.map((header) => h('th', { scope: 'col' }, header)),
      ),
    ),
    h(
      'tbody',
      {},
      rows.map((cells, index) =>
        h(
          'tr',
          rowProps(index),
          cells.map((cell) => h('td', {}, cell)),
        ),
      ),
    ),
  );
}
