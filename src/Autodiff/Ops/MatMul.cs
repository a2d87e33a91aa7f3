using System.Numerics;
using Autodiff.Interop;
using Autodiff.Kernels;
using Autodiff.Text;

namespace Autodiff;

/// <summary><c>matmul(a, b)</c> or <c>a @ b</c>: [..., M, K] × [..., K, N] → [..., M, N], with NumPy broadcasting of the batch dimensions.</summary>
public sealed record MatMulOp : Op, IOpFunctions
{
    /// <inheritdoc/>
    public override string Name => "matmul";
    static IEnumerable<FunctionSpec> IOpFunctions.Functions =>
        [new("matmul", [FunctionParam.Tensor("a"), FunctionParam.Tensor("b")], c => c.Tensor("a").MatMul(c.Tensor("b")))];
    internal override string ToOnnx(OnnxLowering o, Node n, string[] x, string y) => o.Emit("MatMul", x, y);

    /// <inheritdoc/>
    public override (Shape Shape, DType DType) Infer(IReadOnlyList<Node> inputs)
    {
        if (inputs.Count != 2) throw new ShapeException(Name, $"takes 2 operands, got {inputs.Count}");
        Shape a = inputs[0].Shape, b = inputs[1].Shape;
        RequireFloat(inputs[0], "left operand");
        RequireFloat(inputs[1], "right operand");
        RequireSameDType(inputs);
        if (a.Rank < 2 || b.Rank < 2)
            throw new ShapeException(Name, $"operands must have rank 2 or more, got {a} and {b} (reshape vectors to [1, n] or [n, 1])");
        if (a[^1] != b[^2])
            throw new ShapeException(Name, $"shapes {a} and {b} are incompatible: inner dimensions {a[^1]} and {b[^2]} differ");
        var batch = Shape.Broadcast(new Shape(a.Take(a.Rank - 2).ToArray()), new Shape(b.Take(b.Rank - 2).ToArray()), Name);
        return (new Shape([.. batch, a[^2], b[^1]]), inputs[0].DType);
    }

    private readonly record struct Plan(int Batches, int M, int K, int N, int[] AOffsets, int[] BOffsets);

    /// <inheritdoc/>
    public override object? CreateState(Node node)
    {
        Shape a = node.Inputs[0].Shape, b = node.Inputs[1].Shape, o = node.Shape;
        int m = a[^2], k = a[^1], n = b[^1];
        int batches = o.Size == 0 ? 0 : o.Product(0, o.Rank - 2);
        var batchShape = o.Take(o.Rank - 2).ToArray();
        var aOff = new int[batches];
        var bOff = new int[batches];
        var idx = new int[batchShape.Length];
        for (int i = 0; i < batches; i++)
        {
            aOff[i] = Offset(a, idx) * m * k;
            bOff[i] = Offset(b, idx) * k * n;
            for (int d = idx.Length - 1; d >= 0; d--) { if (++idx[d] < batchShape[d]) break; idx[d] = 0; }
        }
        return new Plan(batches, m, k, n, aOff, bOff);
    }

    private static int Offset(Shape s, int[] outIdx)
    {
        int r = s.Rank - 2, lead = outIdx.Length - r, off = 0;
        for (int d = 0; d < r; d++) off = off * s[d] + (s[d] == 1 ? 0 : outIdx[d + lead]);
        return off;
    }

    /// <inheritdoc/>
    protected override void Forward<T>(OpContext c)
    {
        var p = (Plan)c.State!;
        var a = c.Inputs[0].Span<T>();
        var b = c.Inputs[1].Span<T>();
        var o = c.Output.Span<T>();
        for (int i = 0; i < p.Batches; i++)
            Gemm.Multiply<T>(false, false, p.M, p.N, p.K, a.Slice(p.AOffsets[i], p.M * p.K), b.Slice(p.BOffsets[i], p.K * p.N),
                o.Slice(i * p.M * p.N, p.M * p.N), accumulate: false);
    }

    /// <inheritdoc/>
    protected override void Backward<T>(OpContext c)
    {
        var p = (Plan)c.State!;
        var a = c.Inputs[0].Span<T>();
        var b = c.Inputs[1].Span<T>();
        var g = c.GradOutput.Span<T>();
        for (int i = 0; i < p.Batches; i++)
        {
            var gi = g.Slice(i * p.M * p.N, p.M * p.N);
            if (c.InputGrads[0] is { } ga)   // dA = G · Bᵀ
                Gemm.Multiply<T>(false, true, p.M, p.K, p.N, gi, b.Slice(p.BOffsets[i], p.K * p.N), ga.Span<T>().Slice(p.AOffsets[i], p.M * p.K), accumulate: true);
            if (c.InputGrads[1] is { } gb)   // dB = Aᵀ · G
                Gemm.Multiply<T>(true, false, p.K, p.N, p.M, a.Slice(p.AOffsets[i], p.M * p.K), gi, gb.Span<T>().Slice(p.BOffsets[i], p.K * p.N), accumulate: true);
        }
    }

    /// <inheritdoc/>
    public override Expr?[] Gradient(Node node, Expr g)
    {
        Expr a = node.Inputs[0], b = node.Inputs[1];
        return [BinaryOp.SumTo(g.MatMul(SwapLast(b)), a.Shape), BinaryOp.SumTo(SwapLast(a).MatMul(g), b.Shape)];
    }

    private static Expr SwapLast(Expr x)
    {
        var perm = Enumerable.Range(0, x.Shape.Rank).ToArray();
        (perm[^1], perm[^2]) = (perm[^2], perm[^1]);
        return x.Transpose(perm);
    }
}

public readonly partial struct Expr
{
    /// <summary>Matrix product (batched, broadcasting batch dimensions).</summary>
    public Expr MatMul(Expr other) => Apply(new MatMulOp(), other);
}
