/**
 * Table rows kept compactly until the column widths are known (`-o wide`, whose documents are too costly to read
 * twice): each row's cells joined into one new string — which also lets go of the documents the cells were read from
 * (V8 keeps a substring's parent string alive) — and every cell's length in one growing Int32Array. 100,000 rows of
 * 12 cells: one string and 48 bytes a row, where arrays of strings took ~5× that.
 */
export class RowStore {
  private readonly texts: string[] = [];
  private lengths = new Int32Array(4096);
  private used = 0;

  constructor(private readonly columns: number) {}

  get size(): number {
    return this.texts.length;
  }

  push(cells: readonly string[]): void {
    if (cells.length !== this.columns) throw new RangeError(`RowStore: ${cells.length} cells, want ${this.columns}`);
    if (this.used + this.columns > this.lengths.length) {
      const grown = new Int32Array(this.lengths.length * 2);
      grown.set(this.lengths);
      this.lengths = grown;
    }
    for (const c of cells) this.lengths[this.used++] = c.length;
    this.texts.push(cells.join(''));
  }

  /** The rows in the order pushed, each cut back into its cells. */
  *rows(): Generator<string[]> {
    let k = 0;
    for (const text of this.texts) {
      const cells: string[] = new Array(this.columns);
      let at = 0;
      for (let i = 0; i < this.columns; i++) {
        const end = at + this.lengths[k++]!;
        cells[i] = text.slice(at, end);
        at = end;
      }
      yield cells;
    }
  }
}
