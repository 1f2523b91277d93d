/**
 * Walking the CEL library's AST. Both the compile-time bounds check and the optimizer must see every node the library
 * will evaluate — including macro expansions and comprehension parts, which are not in `args` — so they share one walk.
 */

/** The slice of the library's ASTNode a walk needs. */
export interface AstNode {
  op: string;
  args: unknown;
  meta: { alternate?: AstNode; macro?: Record<string, unknown> };
}

/** Is `v` an AST node (rather than a literal, a list of nodes or an identifier string)? */
export function isNode<N extends AstNode = AstNode>(v: unknown): v is N {
  return typeof v === 'object' && v !== null && typeof (v as AstNode).op === 'string' && 'meta' in v;
}

function collectNodes(v: unknown, out: AstNode[]): void {
  if (isNode(v)) out.push(v);
  else if (Array.isArray(v)) for (const x of v) collectNodes(x, out);
}

/** Direct children of a node, including macro expansions, typed as the caller's view of the node. */
export function children<N extends AstNode>(n: N): N[] {
  const out: AstNode[] = [];
  const meta = n.meta;
  if (meta.alternate) collectNodes(meta.alternate, out);
  if (meta.macro) {
    const m = meta.macro;
    collectNodes(m.args, out);
    collectNodes(m.val, out);
    collectNodes(m.exp, out);
  }
  if (n.op === 'comprehension') {
    const a = n.args as Record<string, unknown>;
    collectNodes(a.iterable, out);
    collectNodes(a.init, out);
    collectNodes(a.step, out);
  } else {
    collectNodes(n.args, out);
  }
  return out as N[];
}
