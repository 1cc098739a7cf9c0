import { describeEvent, renderBoard, type ViewSnapshot } from './view-board.js';

export {
  type BoardOptions,
  describeEvent,
  humanDuration,
  renderBoard,
  type ViewSnapshot,
} from './view-board.js';
export { renderSummary } from './view-summary.js';

/** Where the view writes: `process.stdout` or anything shaped like it. */
export interface ViewOutput {
  write(chunk: string): unknown;
  readonly isTTY?: boolean;
  readonly columns?: number;
  readonly rows?: number;
}

export interface LiveViewProps {
  /** @default process.stdout */
  readonly out?: ViewOutput;
  /** Most boards drawn per real second on a terminal. @default 4 */
  readonly fps?: number;
  /** @default - colours on a terminal, none in a log */
  readonly color?: boolean;
  /** @default - the terminal's width, 100 in a log */
  readonly width?: number;
  /** Real seconds between boards in a log (not a terminal). @default 30 */
  readonly boardEverySeconds?: number;
  /** Real time in milliseconds, for the throttle. @default Date.now */
  readonly now?: () => number;
}

const CLEAR_BELOW = '\x1b[J';

/**
 * Shows snapshots as they come. On a terminal it redraws the board in place, at most
 * `fps` times a second (the latest snapshot wins); in a log (CI, a pipe) it writes each
 * new event once as a line and a board every `boardEverySeconds`, so the log reads top
 * to bottom. `close()` draws the last snapshot's board for good.
 *
 * @example
 * const view = new LiveView({ out: process.stdout });
 * runtime.onChange(() => view.update(runtime.snapshot()));
 * // … when the demo ends:
 * view.close();
 * process.stdout.write(`${renderSummary(runtime.snapshot())}\n`);
 */
export class LiveView {
  readonly #out: ViewOutput;
  readonly #tty: boolean;
  readonly #color: boolean;
  readonly #width: number | undefined;
  readonly #frameMs: number;
  readonly #boardMs: number;
  readonly #now: () => number;
  #latest: ViewSnapshot | null = null;
  #timer: ReturnType<typeof setTimeout> | null = null;
  #lastDraw = Number.NEGATIVE_INFINITY;
  /** Lines of the board on screen, which the next frame moves back over. */
  #drawn = 0;
  readonly #printed = new Set<string>();
  #closed = false;

  constructor(props: LiveViewProps = {}) {
    const fps = props.fps ?? 4;
    const boardEverySeconds = props.boardEverySeconds ?? 30;
    if (!(fps > 0 && boardEverySeconds > 0)) {
      throw new RangeError(
        `fps is ${fps} and boardEverySeconds ${boardEverySeconds}; expected both > 0 (e.g. fps 4, a board every 30 s).`,
      );
    }
    this.#out = props.out ?? process.stdout;
    this.#tty = this.#out.isTTY === true;
    this.#color = props.color ?? this.#tty;
    this.#width = props.width;
    this.#frameMs = 1000 / fps;
    this.#boardMs = boardEverySeconds * 1000;
    this.#now = props.now ?? Date.now;
  }

  /** Takes the newest snapshot; on a terminal, draws it now or at the next frame. */
  update(snapshot: ViewSnapshot): void {
    if (this.#closed) return;
    this.#latest = snapshot;
    if (!this.#tty) {
      this.#log(snapshot, false);
      return;
    }
    if (this.#timer !== null) return;
    const wait = this.#lastDraw + this.#frameMs - this.#now();
    if (wait <= 0) {
      this.#redraw();
      return;
    }
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.#redraw();
    }, wait);
    // A pending frame must not keep the process alive once the demo is done.
    this.#timer.unref?.();
  }

  /** Draws the last snapshot's board once more and stops; later updates are ignored. */
  close(): void {
    if (this.#closed) return;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    const snapshot = this.#latest;
    if (snapshot !== null) {
      if (this.#tty) this.#redraw();
      else this.#log(snapshot, true);
    }
    this.#closed = true;
  }

  #redraw(): void {
    const snapshot = this.#latest;
    if (snapshot === null) return;
    this.#lastDraw = this.#now();
    // One column short of the edge: some terminals wrap as soon as the last column is written.
    const width = this.#width ?? Math.max(20, (this.#out.columns ?? 100) - 1);
    let lines = renderBoard(snapshot, { width, color: this.#color }).split('\n');
    // Lines scrolled off the top could not be moved back over.
    const rows = this.#out.rows;
    if (rows !== undefined && lines.length > rows - 1)
      lines = lines.slice(0, Math.max(1, rows - 1));
    const back = this.#drawn > 0 ? `\x1b[${this.#drawn}A\r${CLEAR_BELOW}` : '';
    this.#out.write(`${back}${lines.join('\n')}\n`);
    this.#drawn = lines.length;
  }

  #log(snapshot: ViewSnapshot, final: boolean): void {
    const fresh = snapshot.events.filter((event) => !this.#printed.has(event.id));
    for (const event of fresh) this.#printed.add(event.id);
    let text = fresh.map((event) => `${describeEvent(event)}\n`).join('');
    const now = this.#now();
    if (final || now - this.#lastDraw >= this.#boardMs) {
      this.#lastDraw = now;
      const board = renderBoard(snapshot, {
        width: this.#width ?? 100,
        color: this.#color,
        events: 0,
      });
      text += `${board}\n`;
    }
    if (text !== '') this.#out.write(text);
  }
}
