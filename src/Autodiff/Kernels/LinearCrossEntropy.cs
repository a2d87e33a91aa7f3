using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;

namespace Autodiff.Kernels;

/// <summary>
/// Linear layer + sparse softmax cross-entropy without the N×V logits: loss[r] = lse(z_r) − z_r[t_r] with
/// z = h·W (+ b), h [N, D], W [D, V], b [V], computed one block of rows at a time. Each block's logits go into a scratch
/// tile of <see cref="BlockRows"/>·V elements (one GEMM with <see cref="Gemm"/>); the row kernels of
/// <see cref="SoftmaxCrossEntropy"/> take its loss and, when the output gradient is known, turn a second tile into the
/// gradient g·(q − onehot) in the same pass, which two more GEMMs multiply into dh (G·Wᵀ) and dW (h_blockᵀ·G), and a
/// column sum into db. The logits are never computed twice in one call; a separate backward recomputes each tile.
/// The GEMMs and the row kernels are parallel inside each block; blocks run in order, so dW is accumulated by one GEMM at
/// a time (no two threads write the same part of dW).
/// </summary>
internal static class LinearCrossEntropy
{
    /// <summary>Bytes of the two scratch tiles at most (the GEMM's packing panels aside).</summary>
    private const int TileBytes = 8 << 20;

    /// <summary>Rows per block: N/8 (at least 8), so that the two tiles of rows·V elements stay within 1/4 of the N×V
    /// logits, and within <see cref="TileBytes"/>; at least 1, at most N. Measured (f32, 1 thread, a loaded machine):
    /// blocks of N/64 rows within 1 MB kept the scratch near 10% of N·V·4 but made the step 1.2× (4096×512×1000) and
    /// 3.4× (512×256×16000) slower than the unfused program, the GEMMs of a few rows repacking W each time; these blocks
    /// cost about 1.1× and 1.2×.</summary>
    public static int BlockRows(int n, int v, int elementSize) =>
        Math.Clamp(Math.Min(Math.Max(n / 8, 8), TileBytes / Math.Max(1, 2 * v * elementSize)), 1, Math.Max(1, n));

    /// <summary>Writes the per-row loss to <paramref name="loss"/> (when not null) and, when <paramref name="g"/> (the loss's
    /// output gradient, one per row) is not null, adds the gradients into <paramref name="dh"/>, <paramref name="dw"/> and
    /// <paramref name="db"/> (each when not null). Labels must be validated; rows labelled <paramref name="ignore"/> give
    /// loss 0 and no gradient.</summary>
    public static void Run<T>(T[] h, T[] w, T[]? b, long[] t, long? ignore, int n, int d, int v, T[]? loss, T[]? g, T[]? dh, T[]? dw, T[]? db)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int rowsPerBlock = BlockRows(n, v, Unsafe.SizeOf<T>());
        bool grads = g is not null && (dh is not null || dw is not null || db is not null);
        var z = Pool.Rent<T>(Math.Max(1, rowsPerBlock * v));
        var gz = grads ? Pool.Rent<T>(Math.Max(1, rowsPerBlock * v)) : null;
        var max = Pool.Rent<T>(rowsPerBlock);
        var blockLoss = Pool.Rent<T>(rowsPerBlock);
        var blockG = Pool.Rent<T>(rowsPerBlock);
        var sum = Pool.Rent<double>(rowsPerBlock);
        var rest = Pool.Rent<double>(rowsPerBlock);
        var labels = Pool.Rent<long>(rowsPerBlock);
        try
        {
            for (int r0 = 0; r0 < n; r0 += rowsPerBlock)
            {
                int rows = Math.Min(rowsPerBlock, n - r0);
                var hb = h.AsSpan(r0 * d, rows * d);
                var zb = z.AsSpan(0, rows * v);
                Gemm.Multiply<T>(false, false, rows, v, d, hb, w, zb, accumulate: false);
                if (b is not null)
                    for (int r = 0; r < rows; r++) TensorPrimitives.Add(zb.Slice(r * v, v), b, zb.Slice(r * v, v));
                Array.Copy(t, r0, labels, 0, rows);
                if (!grads)
                {
                    SoftmaxCrossEntropy.SparseForward(z, labels, null, ignore, 0, max, sum, rest, blockLoss, rows, v);
                }
                else
                {
                    Array.Copy(g!, r0, blockG, 0, rows);
                    SoftmaxCrossEntropy.SparseForwardBackward(z, labels, null, ignore, 0, max, sum, rest, blockLoss, blockG, gz!, rows, v, accumulate: false);
                    var gb = gz.AsSpan(0, rows * v);
                    if (dh is not null) Gemm.Multiply<T>(false, true, rows, d, v, gb, w, dh.AsSpan(r0 * d, rows * d), accumulate: true);
                    if (dw is not null) Gemm.Multiply<T>(true, false, d, v, rows, hb, gb, dw, accumulate: true);
                    if (db is not null)
                        for (int r = 0; r < rows; r++) TensorPrimitives.Add(db, gb.Slice(r * v, v), db);
                }

                if (loss is not null) Array.Copy(blockLoss, 0, loss, r0, rows);
            }
        }
        finally
        {
            Pool.Return(z);
            if (gz is not null) Pool.Return(gz);
            Pool.Return(max);
            Pool.Return(blockLoss);
            Pool.Return(blockG);
            Pool.Return(sum);
            Pool.Return(rest);
            Pool.Return(labels);
        }
    }
}
