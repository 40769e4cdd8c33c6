"""A faster graph for embedding queries: the same model with its int8 weights kept int8.

The packaged model stores each weight matrix as int8 values times one float scale per
output column (``MatMul(x, Mul(Cast(W_int8), scale))``). onnxruntime folds that into a
float32 matrix at load, so a short query reads 42 MB of weights per embedding (~4 ms of
CPU on two shared cores, bound by memory). Here each such MatMul becomes onnxruntime's
``MatMulNBits`` (8 bits, blocks of 32 along the input, every block carrying its column's
scale, zero point 128): exactly the same weights, kept int8 at run time, with the
activations quantised per block (``accuracy_level`` 4). The vectors move very little
(cosine >= 0.9994 to the folded graph's on real queries) and a query embeds in about
60% of the CPU time. Embedding tables (``Gather`` from a dequantised int8 table) gather
their int8 rows first and scale only those: the same values, without a second float32
copy of the tables in memory.

Each layer's attention, some 27 nodes as exported (head reshapes and transposes, scaled
products, the padding mask rebuilt from ``attention_mask``, softmax, a NaN guard), becomes
one ``MultiHeadAttention`` node on the same projections with the same scale, masking the
same padded keys: 315 nodes become 147 and a query embeds in ~8% less CPU, with the same
vector bit for bit (the bench queries; padded batches to cosine 0.99999). A layer of any
other shape is left as it is.

Only queries use it: thread vectors still come from the file as it is, so the model id
(and every stored vector) stays valid. ``load`` checks the two graphs agree on probe
texts before using this one, and falls back to the plain graph when they do not, when
the file has another shape, or when ``onnx`` is missing. The rewrite is a pure function
of the checksummed file; nothing is written to disk.
"""

from __future__ import annotations

import numpy as np

BLOCK = 32  # input rows per quantisation block (a divisor of 384 and 1536)
ZERO_POINT = 128  # int8 weights stored as uint8 + 128
ACCURACY_LEVEL = 4  # MatMulNBits computes in int8 with per-block activation scales
AGREEMENT = 0.999  # least cosine to the plain graph, per probe text, to use this graph
MASK = "attention_mask_int32"  # MultiHeadAttention's key padding mask (the graph input's copy)


def rewrite(model_bytes: bytes) -> bytes | None:
    """The model with its int8-weight MatMuls as MatMulNBits, serialised; None when
    ``onnx`` is not installed or no MatMul has that shape."""
    try:
        import onnx
        from onnx import helper, numpy_helper
    except ImportError:
        return None
    model = onnx.load_from_string(model_bytes)
    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    made = {o: n for n in graph.node for o in n.output}
    nodes, added = [], []
    for node in graph.node:
        if node.op_type == "Gather" and (looked_up := _lookup(node, made, inits, helper)):
            nodes.extend(looked_up)
            continue
        packed = _pack(node, made, inits, numpy_helper) if node.op_type == "MatMul" else None
        if packed is None:
            nodes.append(node)
            continue
        (k, n), arrays = packed
        names = [f"{node.output[0]}_nbits_{part}" for part in ("B", "S", "Z")]
        added += [numpy_helper.from_array(a, name) for a, name in zip(arrays, names, strict=True)]
        nodes.append(
            helper.make_node(
                "MatMulNBits",
                [node.input[0], *names],
                list(node.output),
                domain="com.microsoft",
                K=k,
                N=n,
                bits=8,
                block_size=BLOCK,
                accuracy_level=ACCURACY_LEVEL,
            )
        )
    if not added:
        return None
    if "attention_mask" in {i.name for i in graph.input}:
        nodes = _attention(nodes, inits, helper, numpy_helper)
    nodes = _used(nodes, {o.name for o in graph.output})
    inputs = {i for n in nodes for i in n.input}
    kept = [i for i in graph.initializer if i.name in inputs]
    del graph.node[:]
    graph.node.extend(nodes)
    del graph.initializer[:]
    graph.initializer.extend(kept + added)
    if not any(o.domain == "com.microsoft" for o in model.opset_import):
        model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    return model.SerializeToString()


def _pack(node, made, inits, numpy_helper):
    """((K, N), (B, scales, zero points)) for ``MatMul(x, Mul(Cast(W_int8), scale))``
    with a per-column scale; None for any other MatMul."""
    mul = made.get(node.input[1])
    if mul is None or mul.op_type != "Mul" or mul.input[1] not in inits:
        return None
    cast = made.get(mul.input[0])
    if cast is None or cast.op_type != "Cast" or cast.input[0] not in inits:
        return None
    weights = numpy_helper.to_array(inits[cast.input[0]])
    scale = numpy_helper.to_array(inits[mul.input[1]]).astype(np.float32)
    if weights.dtype != np.int8 or weights.ndim != 2:
        return None
    k, n = weights.shape
    if k % BLOCK or scale.size != n:
        return None
    blocks = k // BLOCK
    packed = (weights.astype(np.int16) + ZERO_POINT).astype(np.uint8).T.reshape(n, blocks, BLOCK)
    scales = np.repeat(scale.reshape(n, 1), blocks, axis=1).reshape(-1)
    zeros = np.full(n * blocks, ZERO_POINT, np.uint8)
    return (k, n), (np.ascontiguousarray(packed), scales, zeros)


def _lookup(node, made, inits, helper) -> list | None:
    """``Gather(Mul(Cast(T_int8), row_scale), ids)`` (an embedding table) as the same
    values gathered first: ``Mul(Cast(Gather(T_int8, ids)), Gather(row_scale, ids))``,
    so no float32 copy of the table (47 MB for the words) is kept; None otherwise."""
    axis = next((a.i for a in node.attribute if a.name == "axis"), 0)
    mul = made.get(node.input[0])
    if axis != 0 or mul is None or mul.op_type != "Mul" or mul.input[1] not in inits:
        return None
    cast = made.get(mul.input[0])
    if cast is None or cast.op_type != "Cast" or cast.input[0] not in inits:
        return None
    table, scale = inits[cast.input[0]], inits[mul.input[1]]
    if len(table.dims) != 2 or list(scale.dims) != [table.dims[0], 1]:
        return None
    out = node.output[0]
    rows, weights, scales = f"{out}_rows_q", f"{out}_rows_f", f"{out}_rows_scale"
    to = next(a.i for a in cast.attribute if a.name == "to")
    return [
        helper.make_node("Gather", [cast.input[0], node.input[1]], [rows], axis=0),
        helper.make_node("Cast", [rows], [weights], to=to),
        helper.make_node("Gather", [mul.input[1], node.input[1]], [scales], axis=0),
        helper.make_node("Mul", [weights, scales], [out]),
    ]


def _attention(nodes: list, inits, helper, numpy_helper) -> list:
    """``nodes`` with each layer's exported attention (ending in the Reshape that merges
    the heads) replaced by one ``MultiHeadAttention`` on the same query, key and value
    projections, scale and key padding; the nodes it leaves unused go in ``_used``."""
    made = {o: n for n in nodes for o in n.output}
    values = {
        n.output[0]: a.t
        for n in nodes
        if n.op_type == "Constant"
        for a in n.attribute
        if a.name == "value"
    }
    values.update(inits)
    out, fused = [], False
    for node in nodes:
        found = node.op_type == "Reshape" and _attention_of(node, made, values, numpy_helper)
        if not found:
            out.append(node)
            continue
        (q, k, v), heads, scale = found
        out.append(
            helper.make_node(
                "MultiHeadAttention",
                [q, k, v, "", MASK],
                list(node.output),
                domain="com.microsoft",
                num_heads=heads,
                scale=scale,
            )
        )
        fused = True
    if fused:  # the mask as MultiHeadAttention takes it: int32, 1 for a key to attend to
        out.insert(0, helper.make_node("Cast", ["attention_mask"], [MASK], to=6))
    return out


def _attention_of(merge, made, values, numpy_helper):
    """((q, k, v), heads, scale) when ``merge`` ends an attention as exported:
    ``Reshape(Transpose(MatMul(Where(IsNaN(p), 0, p), V)))``, ``p = Softmax(Add(MatMul(
    Mul(Q, c), Mul(Kt, c)), mask))``, Q and V the heads of a projection, Kt the heads of
    one transposed; None for anything else."""

    def op(name, kind):
        node = made.get(name)
        return node if node is not None and node.op_type == kind else None

    def const(name):
        return numpy_helper.to_array(values[name]) if name in values else None

    def heads(name):  # Transpose(Reshape(x, [b, s, -1, size]), 0213) -> (x, size)
        t = op(name, "Transpose")
        r = t and _perm(t) == [0, 2, 1, 3] and op(t.input[0], "Reshape")
        shape = r and op(r.input[1], "Concat")
        size = const(shape.input[-1]) if shape else None
        if size is None or size.size != 1:
            return None
        return r.input[0], int(size.reshape(-1)[0])

    def width(name):  # columns of a projection: MatMulNBits, or Add(MatMulNBits, bias)
        node = made.get(name)
        node = made.get(node.input[0]) if node is not None and node.op_type == "Add" else node
        if node is None or node.op_type != "MatMulNBits":
            return None
        return next((a.i for a in node.attribute if a.name == "N"), None)

    t = op(merge.input[0], "Transpose")
    pv = t and _perm(t) == [0, 2, 1, 3] and op(t.input[0], "MatMul")
    guard = pv and op(pv.input[0], "Where")
    probs = guard and op(guard.input[2], "Softmax")
    nan = guard and op(guard.input[0], "IsNaN")
    zero = const(guard.input[1]) if guard else None
    if not (probs and nan and nan.input[0] == probs.output[0]) or zero is None or zero.any():
        return None
    if next((a.i for a in probs.attribute if a.name == "axis"), -1) not in (-1, 3):
        return None  # softmax over the keys only
    masked = op(probs.input[0], "Add")
    scores = masked and op(masked.input[0], "MatMul")
    mq = scores and op(scores.input[0], "Mul")
    mk = scores and op(scores.input[1], "Mul")
    if not (mq and mk):
        return None
    r1 = op(mk.input[0], "Reshape")  # Kt: the key heads reshaped, transposed, reshaped
    t1 = r1 and op(r1.input[0], "Transpose")
    r2 = t1 and _perm(t1) == [0, 2, 1] and op(t1.input[0], "Reshape")
    q, k, v = heads(mq.input[0]), r2 and heads(r2.input[0]), heads(pv.input[1])
    cq, ck = const(mq.input[1]), const(mk.input[1])
    if not (q and k and v) or cq is None or ck is None or cq.size != 1 or ck.size != 1:
        return None
    size, columns = q[1], width(q[0])
    if not size == k[1] == v[1] or not columns or columns % size:
        return None
    return (q[0], k[0], v[0]), columns // size, float(cq.reshape(-1)[0]) * float(ck.reshape(-1)[0])


def _perm(node) -> list[int]:
    return next((list(a.ints) for a in node.attribute if a.name == "perm"), [])


def _used(nodes: list, outputs: set[str]) -> list:
    """``nodes`` less those whose outputs nothing uses (the folded weights' Cast and Mul)."""
    while True:
        wanted = outputs | {i for n in nodes for i in n.input}
        kept = [n for n in nodes if any(o in wanted for o in n.output)]
        if len(kept) == len(nodes):
            return kept
        nodes = kept
