/// Matrix products on `cblas_sgemm`: 2-D, or batched over leading dimensions (which broadcast).

extension Tensor {
    public func matmul(_ other: Tensor) throws -> Tensor {
        let a = self, b = other
        guard a.rank >= 2, b.rank >= 2 else {
            throw TensorError("matmul: expected tensors of rank 2 or more, got sizes \(describeShape(a.shape)) and \(describeShape(b.shape))")
        }
        let m = a.shape[a.rank - 2], k = a.shape[a.rank - 1]
        let k2 = b.shape[b.rank - 2], n = b.shape[b.rank - 1]
        guard k == k2 else {
            throw TensorError("matmul: sizes \(describeShape(a.shape)) and \(describeShape(b.shape)) do not match (\(k) columns vs \(k2) rows)")
        }
        let batchShape = try broadcastShape(Array(a.shape.dropLast(2)), Array(b.shape.dropLast(2)), op: "matmul")
        let ea = try a.expand(to: batchShape + [m, k]), eb = try b.expand(to: batchShape + [k, n])
        let batch = batchShape.reduce(1, *)
        var out = [Float](repeating: 0, count: try checkedCount(batchShape + [m, n]))
        ea.storage.withUnsafeBufferPointer { pa in
            eb.storage.withUnsafeBufferPointer { pb in
                out.withUnsafeMutableBufferPointer { pc in
                    // Empty operands have no storage and nothing to multiply.
                    guard let a0 = pa.baseAddress, let b0 = pb.baseAddress, let c0 = pc.baseAddress else { return }
                    for i in 0..<batch {
                        parallelSgemm(m: m, n: n, k: k, a: a0 + i * m * k, lda: k,
                              b: b0 + i * k * n, ldb: n, c: c0 + i * m * n, ldc: n)
                    }
                }
            }
        }
        return Tensor(uncheckedShape: batchShape + [m, n], storage: out).recording("matmul", [a, b]) { g, need in
            let last = batchShape.count
            return [need[0] ? try g.matmul(eb.detached().transposed(last, last + 1)).sumTo(a.shape) : nil,
                    need[1] ? try ea.detached().transposed(last, last + 1).matmul(g).sumTo(b.shape) : nil]
        }
    }

    /// `x W^T + b` for x of shape (N, in), W (out, in), as `torch.nn.functional.linear`.
    public static func linear(_ x: Tensor, weight: Tensor, bias: Tensor?) throws -> Tensor {
        guard x.rank == 2, weight.rank == 2, x.shape[1] == weight.shape[1] else {
            throw TensorError("linear: expected input (N, \(weight.shape.last ?? 0)) for weight of size \(describeShape(weight.shape)), got \(describeShape(x.shape))")
        }
        let n = x.shape[0], i = x.shape[1], o = weight.shape[0]
        var out = [Float](repeating: 0, count: n * o)
        if let bias {
            guard bias.shape == [o] else {
                throw TensorError("linear: expected bias of size \(o), got \(describeShape(bias.shape))")
            }
            let b = bias.storage  // once: a class's property read per element checks exclusive access each time
            for r in 0..<n { for c in 0..<o { out[r * o + c] = b[c] } }
        }
        x.storage.withUnsafeBufferPointer { px in
            weight.storage.withUnsafeBufferPointer { pw in
                out.withUnsafeMutableBufferPointer { po in
                    guard let x0 = px.baseAddress, let w0 = pw.baseAddress, let o0 = po.baseAddress else { return }
                    parallelSgemm(transB: true, m: n, n: o, k: i, a: x0, lda: i, b: w0, ldb: i,
                          beta: bias == nil ? 0 : 1, c: o0, ldc: o)
                }
            }
        }
        let inputs = bias.map { [x, weight, $0] } ?? [x, weight]
        return Tensor(uncheckedShape: [n, o], storage: out).recording("linear", inputs) { g, need in
            var grads: [Tensor?] = [need[0] ? try g.matmul(weight.detached()) : nil,
                                    need[1] ? try g.transposed(0, 1).matmul(x.detached()) : nil]
            if bias != nil { grads.append(need[2] ? try g.sum(dim: 0) : nil) }
            return grads
        }
    }
}
