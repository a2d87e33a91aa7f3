using System.Buffers;
using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Autodiff.Kernels;

/// <summary>
/// Dense row-major matrix multiplication: packed, cache-blocked panels fed to a register-blocked SIMD micro-kernel,
/// parallel over blocks of C.
/// </summary>
internal static class Gemm
{
    private const int KC = 256; // depth of one packed block
    private const int MC = 96;  // rows of A packed at once; a multiple of every MR
    private const int NC = 2048; // columns of B packed at once; a multiple of every NR

    /// <summary>
    /// C[m, n] (+)= op(A) · op(B), where op(A) is [m, k] and op(B) is [k, n]. A is stored [m, k], or [k, m] when
    /// <paramref name="transA"/>; B is stored [k, n], or [n, k] when <paramref name="transB"/>.
    /// </summary>
    /// <param name="transA">A is stored transposed, as [k, m].</param>
    /// <param name="transB">B is stored transposed, as [n, k].</param>
    /// <param name="m">Rows of C.</param>
    /// <param name="n">Columns of C.</param>
    /// <param name="k">The contracted dimension.</param>
    /// <param name="a">A, exactly m * k elements.</param>
    /// <param name="b">B, exactly k * n elements.</param>
    /// <param name="c">C, exactly m * n elements; must not overlap A or B.</param>
    /// <param name="accumulate">Add the product into <paramref name="c"/> instead of overwriting it.</param>
    /// <exception cref="ArgumentException">A span length does not match the dimensions.</exception>
    public static unsafe void Multiply<T>(bool transA, bool transB, int m, int n, int k, ReadOnlySpan<T> a, ReadOnlySpan<T> b, Span<T> c, bool accumulate)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckDimensions(m, n, k);
        if ((long)m * k != a.Length || (long)k * n != b.Length || (long)m * n != c.Length)
        {
            throw new ArgumentException($"spans of length {a.Length}, {b.Length}, {c.Length} do not match m={m}, n={n}, k={k}");
        }

        fixed (T* pa = a, pb = b, pc = c)
        {
            Run(transA, transB, m, n, k, pa, pb, pc, accumulate, parallel: true);
        }
    }

    /// <summary>
    /// For each i in [0, <paramref name="batch"/>): C_i (+)= op(A_i) · op(B_i) as in <see cref="Multiply{T}"/>, where
    /// A_i starts at element i * <paramref name="strideA"/> of <paramref name="a"/> (likewise B_i and C_i). A stride of 0
    /// broadcasts that operand across the batch; C's stride must be at least m * n when batch &gt; 1.
    /// </summary>
    /// <param name="transA">Each A_i is stored transposed, as [k, m].</param>
    /// <param name="transB">Each B_i is stored transposed, as [n, k].</param>
    /// <param name="batch">Number of products.</param>
    /// <param name="m">Rows of each C_i.</param>
    /// <param name="n">Columns of each C_i.</param>
    /// <param name="k">The contracted dimension.</param>
    /// <param name="a">Holds every A_i.</param>
    /// <param name="strideA">Elements between consecutive A_i, or 0.</param>
    /// <param name="b">Holds every B_i.</param>
    /// <param name="strideB">Elements between consecutive B_i, or 0.</param>
    /// <param name="c">Holds every C_i; must not overlap A or B.</param>
    /// <param name="strideC">Elements between consecutive C_i.</param>
    /// <param name="accumulate">Add the products into <paramref name="c"/> instead of overwriting it.</param>
    /// <exception cref="ArgumentException">A span is too short or C's stride makes the outputs overlap.</exception>
    public static unsafe void BatchedMultiply<T>(
        bool transA, bool transB, int batch, int m, int n, int k, ReadOnlySpan<T> a, int strideA, ReadOnlySpan<T> b, int strideB, Span<T> c, int strideC, bool accumulate)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckDimensions(m, n, k);
        ArgumentOutOfRangeException.ThrowIfNegative(batch);
        ArgumentOutOfRangeException.ThrowIfNegative(strideA);
        ArgumentOutOfRangeException.ThrowIfNegative(strideB);
        ArgumentOutOfRangeException.ThrowIfNegative(strideC);
        if (batch == 0)
        {
            return;
        }

        if (batch > 1 && strideC < (long)m * n)
        {
            throw new ArgumentException($"strideC {strideC} is less than m * n = {(long)m * n}", nameof(strideC));
        }

        if ((long)(batch - 1) * strideA + (long)m * k > a.Length || (long)(batch - 1) * strideB + (long)k * n > b.Length ||
            (long)(batch - 1) * strideC + (long)m * n > c.Length)
        {
            throw new ArgumentException($"spans of length {a.Length}, {b.Length}, {c.Length} are too short for {batch} products with m={m}, n={n}, k={k}");
        }

        fixed (T* pa = a, pb = b, pc = c)
        {
            // Few large products: parallelize inside each one; many: one product per work item.
            if (batch < 2 * Parallelism.DegreeOfParallelism)
            {
                for (int i = 0; i < batch; i++)
                {
                    Run(transA, transB, m, n, k, pa + ((nint)i * strideA), pb + ((nint)i * strideB), pc + ((nint)i * strideC), accumulate, parallel: true);
                }

                return;
            }

            var body = new Products<T>
            {
                TransA = transA, TransB = transB, M = m, N = n, K = k, A = pa, B = pb, C = pc,
                StrideA = strideA, StrideB = strideB, StrideC = strideC, Accumulate = accumulate,
            };
            Parallelism.For(batch, (long)m * n * k, ref body);
        }
    }

    /// <summary>Products [start, end) of a batch, each on one thread.</summary>
    private unsafe struct Products<T> : IRangeBody
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        public bool TransA, TransB, Accumulate;
        public int M, N, K, StrideA, StrideB, StrideC;
        public T* A, B, C;

        public readonly void Run(int start, int end)
        {
            for (int i = start; i < end; i++)
            {
                Gemm.Run(TransA, TransB, M, N, K, A + ((nint)i * StrideA), B + ((nint)i * StrideB), C + ((nint)i * StrideC), Accumulate, parallel: false);
            }
        }
    }

    private static void CheckDimensions(int m, int n, int k)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(m);
        ArgumentOutOfRangeException.ThrowIfNegative(n);
        ArgumentOutOfRangeException.ThrowIfNegative(k);
    }

    /// <summary>Rows of C per micro-tile.</summary>
    private static int Mr => Vector512.IsHardwareAccelerated ? 6 : 4;

    /// <summary>Columns of C per micro-tile: two vectors.</summary>
    private static int Nr<T>() => 2 * (Vector512.IsHardwareAccelerated ? Vector512<T>.Count : Vector<T>.Count);

    /// <summary>One product; split across threads when <paramref name="parallel"/> (false inside a parallel batch).</summary>
    private static unsafe void Run<T>(bool transA, bool transB, int m, int n, int k, T* a, T* b, T* c, bool accumulate, bool parallel)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (m == 0 || n == 0)
        {
            return;
        }

        if (k == 0)
        {
            if (!accumulate)
            {
                new Span<T>(c, m * n).Clear();
            }

            return;
        }

        if (n == 1)
        {
            var dots = new MatrixVector<T> { Matrix = a, Vector = b, C = c, K = k, Outputs = m, RowsAreOutputs = !transA, Accumulate = accumulate };
            For(m, k, parallel, ref dots);
            return;
        }

        if (m == 1)
        {
            var dots = new MatrixVector<T> { Matrix = b, Vector = a, C = c, K = k, Outputs = n, RowsAreOutputs = transB, Accumulate = accumulate };
            For(n, k, parallel, ref dots);
            return;
        }

        // Split C along its larger side into whole micro-tile panels; each block packs its own operands.
        int mr = Mr, nr = Nr<T>();
        bool byRows = m >= n;
        int panels = byRows ? (m + mr - 1) / mr : (n + nr - 1) / nr;
        long work = (long)(byRows ? mr * n : nr * m) * k;
        var body = new Panels<T> { TransA = transA, TransB = transB, M = m, N = n, K = k, A = a, B = b, C = c, Accumulate = accumulate, ByRows = byRows };
        For(panels, work, parallel, ref body);
    }

    /// <summary>Runs <paramref name="body"/> over [0, count): split by <see cref="Parallelism"/>, or in one piece.</summary>
    private static void For<TBody>(int count, long work, bool parallel, ref TBody body)
        where TBody : struct, IRangeBody
    {
        if (parallel)
        {
            Parallelism.For(count, work, ref body);
        }
        else
        {
            body.Run(0, count);
        }
    }

    /// <summary>Panels [start, end) of C: micro-tile rows when <see cref="ByRows"/>, else micro-tile columns.</summary>
    private unsafe struct Panels<T> : IRangeBody
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        public bool TransA, TransB, Accumulate, ByRows;
        public int M, N, K;
        public T* A, B, C;

        public readonly void Run(int start, int end)
        {
            if (ByRows)
            {
                int mr = Mr;
                Block(TransA, TransB, M, N, K, A, B, C, Accumulate, start * mr, Math.Min(end * mr, M), 0, N);
            }
            else
            {
                int nr = Nr<T>();
                Block(TransA, TransB, M, N, K, A, B, C, Accumulate, 0, M, start * nr, Math.Min(end * nr, N));
            }
        }
    }

    /// <summary>
    /// Outputs [start, end) of c (+)= M · v for a vector v of length k: M is stored [outputs, k] when
    /// <see cref="RowsAreOutputs"/> (one dot product per output), else [k, outputs] (one scaled row added per element of v).
    /// </summary>
    private unsafe struct MatrixVector<T> : IRangeBody
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        public T* Matrix, Vector, C;
        public int Outputs, K;
        public bool RowsAreOutputs, Accumulate;

        public readonly void Run(int start, int end)
        {
            var v = new ReadOnlySpan<T>(Vector, K);
            var dst = new Span<T>(C + start, end - start);
            if (RowsAreOutputs)
            {
                for (int i = start; i < end; i++)
                {
                    T dot = TensorPrimitives.Dot(new ReadOnlySpan<T>(Matrix + ((nint)i * K), K), v);
                    dst[i - start] = Accumulate ? dst[i - start] + dot : dot;
                }

                return;
            }

            if (!Accumulate)
            {
                dst.Clear();
            }

            for (int p = 0; p < K; p++)
            {
                TensorPrimitives.MultiplyAdd(new ReadOnlySpan<T>(Matrix + ((nint)p * Outputs) + start, end - start), v[p], dst, dst);
            }
        }
    }

    /// <summary>Computes the block C[i0..i1, j0..j1].</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void Block<T>(bool transA, bool transB, int m, int n, int k, T* a, T* b, T* c, bool accumulate, int i0, int i1, int j0, int j1)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int mr = Mr, nr = Nr<T>();
        int kcMax = Math.Min(KC, k);
        int mcMax = Math.Min(MC, (i1 - i0 + mr - 1) / mr * mr);
        int ncMax = Math.Min(NC, (j1 - j0 + nr - 1) / nr * nr);
        T[] bufferA = Pool.Rent<T>(mcMax * kcMax);
        T[] bufferB = Pool.Rent<T>(kcMax * ncMax);
        T* tile = stackalloc T[mr * nr];
        fixed (T* packedA = bufferA, packedB = bufferB)
        {
            for (int jc = j0; jc < j1; jc += NC)
            {
                int nc = Math.Min(NC, j1 - jc);
                for (int pc = 0; pc < k; pc += KC)
                {
                    int kc = Math.Min(KC, k - pc);
                    bool add = accumulate || pc > 0;
                    PackB(transB, b, n, k, pc, kc, jc, nc, packedB, nr);
                    for (int ic = i0; ic < i1; ic += MC)
                    {
                        int mc = Math.Min(MC, i1 - ic);
                        PackA(transA, a, m, k, ic, mc, pc, kc, packedA, mr);
                        for (int jr = 0; jr < nc; jr += nr)
                        {
                            for (int ir = 0; ir < mc; ir += mr)
                            {
                                T* ap = packedA + (ir * kc), bp = packedB + (jr * kc), cp = c + ((ic + ir) * n) + jc + jr;
                                int rows = Math.Min(mr, mc - ir), cols = Math.Min(nr, nc - jr);
                                if (rows == mr && cols == nr)
                                {
                                    Kernel(kc, ap, bp, cp, n, add);
                                    continue;
                                }

                                Kernel(kc, ap, bp, tile, nr, false);
                                for (int r = 0; r < rows; r++)
                                {
                                    for (int j = 0; j < cols; j++)
                                    {
                                        cp[(r * n) + j] = add ? cp[(r * n) + j] + tile[(r * nr) + j] : tile[(r * nr) + j];
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }

        Pool.Return(bufferA);
        Pool.Return(bufferB);
    }

    /// <summary>Packs op(A)[i0..i0+rows, p0..p0+kc] as panels of mr rows, each laid out [kc][mr], zero-padded.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void PackA<T>(bool transA, T* a, int m, int k, int i0, int rows, int p0, int kc, T* dst, int mr)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (int ir = 0; ir < rows; ir += mr, dst += mr * kc)
        {
            int h = Math.Min(mr, rows - ir);
            if (h < mr)
            {
                new Span<T>(dst, mr * kc).Clear();
            }

            if (transA)
            {
                for (int p = 0; p < kc; p++)
                {
                    T* src = a + ((p0 + p) * m) + i0 + ir;
                    for (int r = 0; r < h; r++)
                    {
                        dst[(p * mr) + r] = src[r];
                    }
                }

                continue;
            }

            for (int r = 0; r < h; r++)
            {
                T* src = a + ((i0 + ir + r) * k) + p0;
                for (int p = 0; p < kc; p++)
                {
                    dst[(p * mr) + r] = src[p];
                }
            }
        }
    }

    /// <summary>Packs op(B)[p0..p0+kc, j0..j0+cols] as panels of nr columns, each laid out [kc][nr], zero-padded.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void PackB<T>(bool transB, T* b, int n, int k, int p0, int kc, int j0, int cols, T* dst, int nr)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (int jr = 0; jr < cols; jr += nr, dst += nr * kc)
        {
            int w = Math.Min(nr, cols - jr);
            if (w < nr)
            {
                new Span<T>(dst, nr * kc).Clear();
            }

            if (transB)
            {
                for (int j = 0; j < w; j++)
                {
                    T* src = b + ((j0 + jr + j) * k) + p0;
                    for (int p = 0; p < kc; p++)
                    {
                        dst[(p * nr) + j] = src[p];
                    }
                }
            }
            else
            {
                for (int p = 0; p < kc; p++)
                {
                    new ReadOnlySpan<T>(b + ((p0 + p) * n) + j0 + jr, w).CopyTo(new Span<T>(dst + (p * nr), w));
                }
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void Kernel<T>(int kc, T* a, T* b, T* c, int ldc, bool add)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (Vector512.IsHardwareAccelerated)
        {
            Kernel512(kc, a, b, c, ldc, add);
        }
        else
        {
            KernelVector(kc, a, b, c, ldc, add);
        }
    }

    /// <summary>C[6, 2 vectors] (+)= packed A panel · packed B panel, with the tile held in registers.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void Kernel512<T>(int kc, T* a, T* b, T* c, int ldc, bool add)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int v = Vector512<T>.Count;
        Vector512<T> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default;
        Vector512<T> c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
        for (int p = 0; p < kc; p++, a += 6, b += 2 * v)
        {
            Vector512<T> b0 = Vector512.Load(b), b1 = Vector512.Load(b + v);
            Vector512<T> x = Vector512.Create(a[0]);
            c00 = Fma(x, b0, c00);
            c01 = Fma(x, b1, c01);
            x = Vector512.Create(a[1]);
            c10 = Fma(x, b0, c10);
            c11 = Fma(x, b1, c11);
            x = Vector512.Create(a[2]);
            c20 = Fma(x, b0, c20);
            c21 = Fma(x, b1, c21);
            x = Vector512.Create(a[3]);
            c30 = Fma(x, b0, c30);
            c31 = Fma(x, b1, c31);
            x = Vector512.Create(a[4]);
            c40 = Fma(x, b0, c40);
            c41 = Fma(x, b1, c41);
            x = Vector512.Create(a[5]);
            c50 = Fma(x, b0, c50);
            c51 = Fma(x, b1, c51);
        }

        Store(c, c00, c01, add);
        Store(c + ldc, c10, c11, add);
        Store(c + (2 * ldc), c20, c21, add);
        Store(c + (3 * ldc), c30, c31, add);
        Store(c + (4 * ldc), c40, c41, add);
        Store(c + (5 * ldc), c50, c51, add);
    }

    /// <summary>C[4, 2 vectors] (+)= packed A panel · packed B panel, for hardware without 512-bit vectors.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void KernelVector<T>(int kc, T* a, T* b, T* c, int ldc, bool add)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int v = Vector<T>.Count;
        Vector<T> c00 = default, c01 = default, c10 = default, c11 = default;
        Vector<T> c20 = default, c21 = default, c30 = default, c31 = default;
        for (int p = 0; p < kc; p++, a += 4, b += 2 * v)
        {
            Vector<T> b0 = Vector.Load(b), b1 = Vector.Load(b + v);
            Vector<T> x = new(a[0]);
            c00 = Fma(x, b0, c00);
            c01 = Fma(x, b1, c01);
            x = new(a[1]);
            c10 = Fma(x, b0, c10);
            c11 = Fma(x, b1, c11);
            x = new(a[2]);
            c20 = Fma(x, b0, c20);
            c21 = Fma(x, b1, c21);
            x = new(a[3]);
            c30 = Fma(x, b0, c30);
            c31 = Fma(x, b1, c31);
        }

        Store(c, c00, c01, add);
        Store(c + ldc, c10, c11, add);
        Store(c + (2 * ldc), c20, c21, add);
        Store(c + (3 * ldc), c30, c31, add);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void Store<T>(T* c, Vector512<T> lo, Vector512<T> hi, bool add)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        T* c1 = c + Vector512<T>.Count;
        if (add)
        {
            lo += Vector512.Load(c);
            hi += Vector512.Load(c1);
        }

        lo.Store(c);
        hi.Store(c1);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void Store<T>(T* c, Vector<T> lo, Vector<T> hi, bool add)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        T* c1 = c + Vector<T>.Count;
        if (add)
        {
            lo += Vector.Load(c);
            hi += Vector.Load(c1);
        }

        lo.Store(c);
        hi.Store(c1);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<T> Fma<T>(Vector512<T> x, Vector512<T> y, Vector512<T> z)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (typeof(T) == typeof(float))
        {
            return Vector512.MultiplyAddEstimate(x.AsSingle(), y.AsSingle(), z.AsSingle()).As<float, T>();
        }

        if (typeof(T) == typeof(double))
        {
            return Vector512.MultiplyAddEstimate(x.AsDouble(), y.AsDouble(), z.AsDouble()).As<double, T>();
        }

        return (x * y) + z;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector<T> Fma<T>(Vector<T> x, Vector<T> y, Vector<T> z)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (typeof(T) == typeof(float))
        {
            return Vector.MultiplyAddEstimate(Vector.As<T, float>(x), Vector.As<T, float>(y), Vector.As<T, float>(z)).As<float, T>();
        }

        if (typeof(T) == typeof(double))
        {
            return Vector.MultiplyAddEstimate(Vector.As<T, double>(x), Vector.As<T, double>(y), Vector.As<T, double>(z)).As<double, T>();
        }

        return (x * y) + z;
    }
}
