using System.Numerics;
using System.Numerics.Tensors;
using Autodiff.Interop;
using Autodiff.Text;

namespace Autodiff;

/// <summary>An elementwise op of one float operand; the result has the operand's shape and element type.
/// Subclasses give the forward kernel, the accumulating vector-Jacobian product and the symbolic gradient.</summary>
public abstract record UnaryOp : Op
{
    /// <inheritdoc/>
    public override (Shape Shape, DType DType) Infer(IReadOnlyList<Node> inputs)
    {
        if (inputs.Count != 1) throw new ShapeException(Name, $"takes 1 operand, got {inputs.Count}");
        RequireFloat(inputs[0]);
        return (inputs[0].Shape, inputs[0].DType);
    }

    /// <summary>y = f(x).</summary>
    protected abstract void Apply<T>(ReadOnlySpan<T> x, Span<T> y) where T : unmanaged, IFloatingPointIeee754<T>;

    /// <summary>gx += g · f'(x), given x, y = f(x) and g.</summary>
    protected abstract void Vjp<T>(ReadOnlySpan<T> x, ReadOnlySpan<T> y, ReadOnlySpan<T> g, Span<T> gx) where T : unmanaged, IFloatingPointIeee754<T>;

    /// <summary>gx = g · f'(x), writing every element of gx (by default: clears gx, then <see cref="Vjp{T}"/>).</summary>
    protected virtual void VjpOverwrite<T>(ReadOnlySpan<T> x, ReadOnlySpan<T> y, ReadOnlySpan<T> g, Span<T> gx)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        gx.Clear();
        Vjp(x, y, g, gx);
    }

    /// <summary>g · f'(x) as an expression, given x, y = f(x) and g; null if the derivative is zero everywhere.</summary>
    protected abstract Expr? Local(Expr x, Expr y, Expr g);

    /// <summary>The backward can overwrite the operand's gradient.</summary>
    internal override bool CanOverwriteGradient(Node node, int operand) => true;

    /// <inheritdoc/>
    protected override void Forward<T>(OpContext c)
    {
        var body = new Pass<T>(this, c, null, false);
        Elementwise.Run(c.Output.Size, ref body);
    }

    /// <inheritdoc/>
    protected override void Backward<T>(OpContext c)
    {
        if (c.InputGrads[0] is not { } gx) return;
        var body = new Pass<T>(this, c, gx, c.Overwrites(0));
        Elementwise.Run(c.Output.Size, ref body);
    }

    /// <summary>The forward (<paramref name="gx"/> null) or backward over one block of elements, as a struct so that the
    /// parallel split allocates nothing.</summary>
    private readonly struct Pass<T>(UnaryOp op, OpContext c, Tensor? gx, bool overwrite) : Kernels.IRangeBody
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        public void Run(int start, int end)
        {
            int n = end - start;
            var x = c.Inputs[0].Span<T>().Slice(start, n);
            var y = c.Output.Span<T>().Slice(start, n);
            if (gx is null) op.Apply<T>(x, y);
            else if (overwrite) op.VjpOverwrite<T>(x, y, c.GradOutput.Span<T>().Slice(start, n), gx.Span<T>().Slice(start, n));
            else op.Vjp<T>(x, y, c.GradOutput.Span<T>().Slice(start, n), gx.Span<T>().Slice(start, n));
        }
    }

    /// <inheritdoc/>
    public override Expr?[] Gradient(Node node, Expr g) => [Local(node.Inputs[0], node, g)];

    /// <summary>The language function <c>name(x)</c> that builds the op through <paramref name="build"/>.</summary>
    private protected static FunctionSpec Function(string name, Func<Expr, Expr> build) =>
        new(name, [FunctionParam.Tensor("x")], c => build(c.Tensor("x")));
}

/// <summary>Splits elementwise work across cores above a size threshold; nothing runs for zero elements (some
/// TensorPrimitives kernels, such as Sigmoid, reject empty spans).</summary>
internal static class Elementwise
{
    /// <summary><paramref name="body"/>(start, length) over blocks of elements.</summary>
    public static void Run(int n, Action<int, int> body)
    {
        var calls = new Calls(body);
        Run(n, ref calls);
    }

    /// <summary>Calls a delegate with (start, length) for the elements [start, end).</summary>
    private readonly struct Calls(Action<int, int> body) : Kernels.IRangeBody
    {
        public void Run(int start, int end) => body(start, end - start);
    }

    /// <summary>Like <see cref="Run(int, Action{int, int})"/> without allocating: <paramref name="body"/>.Run(start, end)
    /// over blocks of elements.</summary>
    public static void Run<TBody>(int n, ref TBody body)
        where TBody : struct, Kernels.IRangeBody
    {
        if (n == 0) return;
        if (n <= Chunk || Kernels.Parallelism.DegreeOfParallelism == 1) { body.Run(0, n); return; }
        var blocks = new Blocks<TBody> { Body = body, N = n };
        Kernels.Parallelism.For((n + Chunk - 1) / Chunk, Chunk, ref blocks);
    }

    private const int Chunk = 1 << 15;

    private struct Blocks<TBody> : Kernels.IRangeBody
        where TBody : struct, Kernels.IRangeBody
    {
        public TBody Body;
        public int N;

        public void Run(int start, int end) => Body.Run(start * Chunk, Math.Min(N, end * Chunk));
    }
}

/// <summary><c>-x</c>.</summary>
public sealed record NegOp : UnaryOp, IOpFunctions
{
    /// <inheritdoc/>
    public override string Name => "neg";
    static IEnumerable<FunctionSpec> IOpFunctions.Functions => [Function("neg", e => -e)];
    internal override string ToOnnx(OnnxLowering o, Node n, string[] x, string y) => o.Emit("Neg", x, y);
    /// <summary>The backward reads only the output gradient.</summary>
    internal override bool BackwardReadsForwardValues(Node node, IReadOnlyList<bool> gradientNeeded) => false;
    /// <inheritdoc/>
    protected override void Apply<T>(ReadOnlySpan<T> x, Span<T> y) => TensorPrimitives.Negate(x, y);
    /// <inheritdoc/>
    protected override void Vjp<T>(ReadOnlySpan<T> x, ReadOnlySpan<T> y, ReadOnlySpan<T> g, Span<T> gx) => TensorPrimitives.Subtract(gx, g, gx);
    /// <inheritdoc/>
    protected override void VjpOverwrite<T>(ReadOnlySpan<T> x, ReadOnlySpan<T> y, ReadOnlySpan<T> g, Span<T> gx) => TensorPrimitives.Negate(g, gx);
    /// <inheritdoc/>
    protected override Expr? Local(Expr x, Expr y, Expr g) => -g;
}

/// <summary><c>exp(x)</c>.</summary>
public sealed record ExpOp : UnaryOp, IOpFunctions
{
    /// <inheritdoc/>
    public override string Name => "exp";
    static IEnumerable<FunctionSpec> IOpFunctions.Functions => [Function("exp", e => e.Exp())];
    internal override string ToOnnx(OnnxLowering o, Node n, string[] x, string y) => o.Emit("Exp", x, y);
    /// <inheritdoc/>
    protected override void Apply<T>(ReadOnlySpan<T> x, Span<T> y) => Kernels.FastMath.Exp(x, y);
    /// <inheritdoc/>
    protected override void Vjp<T>(ReadOnlySpan<T> x, ReadOnlySpan<T> y, ReadOnlySpan<T> g, Span<T> gx) => TensorPrimitives.FusedMultiplyAdd(g, y, gx, gx);
    /// <inheritdoc/>
    protected override void VjpOverwrite<T>(ReadOnlySpan<T> x, ReadOnlySpan<T> y, ReadOnlySpan<T> g, Span<T> gx) => TensorPrimitives.Multiply(g, y, gx);
    /// <inheritdoc/>
    protected override Expr? Local(Expr x, Expr y, Expr g) => g * y;
}

/// <summary><c>log(x)</c> (natural logarithm).</summary>
public sealed record LogOp : UnaryOp, IOpFunctions
{
    /// <inheritdoc/>
    public override string Name => "log";
    static IEnumerable<FunctionSpec> IOpFunctions.Functions => [Function("log", e => e.Log())];
    internal override string ToOnnx(OnnxLowering o, Node n, string[] x, string y) => o.Emit("Log", x, y);
    /// <inheritdoc/>
    protected override void Apply<T>(ReadOnlySpan<T> x, Span<T> y) => Kernels.FastMath.Log(x, y);
    /// <inheritdoc/>
    protected override void Vjp<T>(ReadOnlySpan<T> x, ReadOnlySpan<T> y, ReadOnlySpan<T> g, Span<T> gx)
    {
        // gx[i] += g[i] / x[i], vectorized through a small stack buffer (the same two roundings).
        Span<T> q = stackalloc T[256];
        for (int i = 0; i < x.Length; i += q.Length)
        {
            int n = Math.Min(q.Length, x.Length - i);
            TensorPrimitives.Divide(g.Slice(i, n), x.Slice(i, n), q[..n]);
            TensorPrimitives.Add(gx.Slice(i, n), q[..n], gx.Slice(i, n));
        }
    }
    /// <inheritdoc/>
    protected override void VjpOverwrite<T>(ReadOnlySpan<T> x, ReadOnlySpan<T> y, ReadOnlySpan<T> g, Span<T> gx) => TensorPrimitives.Divide(g, x, gx);
    /// <inheritdoc/>
    protected override Expr? Local(Expr x, Expr y, Expr g) => g / x;
}

/// <summary><c>sqrt(x)</c>.</summary>
public sealed record SqrtOp : UnaryOp, IOpFunctions
{
    /// <inheritdoc/>
    public override string Name => "sqrt";
    static IEnumerable<FunctionSpec> IOpFunctions.Functions => [Function("sqrt", e => e.Sqrt())];
    internal override string ToOnnx(OnnxLowering o, Node n, string[] x, string y) => o.Emit("Sqrt", x, y);
    /// <inheritdoc/>
    protected override void Apply<T>(ReadOnlySpan<T> x, Span<T> y) => TensorPrimitives.Sqrt(x, y);
    /// <inheritdoc/>
    protected override void Vjp<T>(ReadOnlySpan<T> x, ReadOnlySpan<T> y, ReadOnlySpan<T> g, Span<T> gx)
    {
        for (int i = 0; i < x.Length; i++) gx[i] += g[i] / (y[i] + y[i]);
    }
    /// <inheritdoc/>
    protected override Expr? Local(Expr x, Expr y, Expr g) => g / (y * 2);
}

/// <summary><c>abs(x)</c>; the gradient at 0 is 0.</summary>
public sealed record AbsOp : UnaryOp, IOpFunctions
{
    /// <inheritdoc/>
    public override string Name => "abs";
    static IEnumerable<FunctionSpec> IOpFunctions.Functions => [Function("abs", e => e.Abs())];
    internal override string ToOnnx(OnnxLowering o, Node n, string[] x, string y) => o.Emit("Abs", x, y);
    /// <inheritdoc/>
    protected override void Apply<T>(ReadOnlySpan<T> x, Span<T> y) => TensorPrimitives.Abs(x, y);
    /// <inheritdoc/>
    protected override void Vjp<T>(ReadOnlySpan<T> x, ReadOnlySpan<T> y, ReadOnlySpan<T> g, Span<T> gx)
    {
        for (int i = 0; i < x.Length; i++) gx[i] += x[i] > T.Zero ? g[i] : x[i] < T.Zero ? -g[i] : T.Zero;
    }
    /// <inheritdoc/>
    protected override Expr? Local(Expr x, Expr y, Expr g) => g * x.Sign();
}

/// <summary><c>sign(x)</c>: -1, 0 or 1 (NaN stays NaN); its gradient is zero.</summary>
public sealed record SignOp : UnaryOp, IOpFunctions
{
    /// <inheritdoc/>
    public override string Name => "sign";
    static IEnumerable<FunctionSpec> IOpFunctions.Functions => [Function("sign", e => e.Sign())];
    internal override string ToOnnx(OnnxLowering o, Node n, string[] x, string y) => o.Emit("Sign", x, y);
    /// <inheritdoc/>
    protected override void Apply<T>(ReadOnlySpan<T> x, Span<T> y)
    {
        for (int i = 0; i < x.Length; i++) y[i] = T.IsNaN(x[i]) ? x[i] : x[i] > T.Zero ? T.One : x[i] < T.Zero ? -T.One : T.Zero;
    }
    /// <inheritdoc/>
    protected override void Vjp<T>(ReadOnlySpan<T> x, ReadOnlySpan<T> y, ReadOnlySpan<T> g, Span<T> gx) { }
    /// <inheritdoc/>
    protected override Expr? Local(Expr x, Expr y, Expr g) => null;
}

/// <summary><c>square(x)</c> = x·x.</summary>
public sealed record SquareOp : UnaryOp, IOpFunctions
{
    /// <inheritdoc/>
    public override string Name => "square";
    static IEnumerable<FunctionSpec> IOpFunctions.Functions => [Function("square", e => e.Square())];
    internal override string ToOnnx(OnnxLowering o, Node n, string[] x, string y) => o.Emit("Mul", [x[0], x[0]], y);
    /// <inheritdoc/>
    protected override void Apply<T>(ReadOnlySpan<T> x, Span<T> y) => TensorPrimitives.Multiply(x, x, y);
    /// <inheritdoc/>
    protected override void Vjp<T>(ReadOnlySpan<T> x, ReadOnlySpan<T> y, ReadOnlySpan<T> g, Span<T> gx)
    {
        for (int i = 0; i < x.Length; i++) gx[i] += (x[i] + x[i]) * g[i];
    }
    /// <inheritdoc/>
    protected override Expr? Local(Expr x, Expr y, Expr g) => g * (x * 2);
}

/// <summary><c>sigmoid(x)</c> = 1 / (1 + exp(-x)).</summary>
public sealed record SigmoidOp : UnaryOp, IOpFunctions
{
    /// <inheritdoc/>
    public override string Name => "sigmoid";
    static IEnumerable<FunctionSpec> IOpFunctions.Functions => [Function("sigmoid", e => e.Sigmoid())];
    internal override string ToOnnx(OnnxLowering o, Node n, string[] x, string y) => o.Emit("Sigmoid", x, y);
    /// <inheritdoc/>
    protected override void Apply<T>(ReadOnlySpan<T> x, Span<T> y) => TensorPrimitives.Sigmoid(x, y);
    /// <inheritdoc/>
    protected override void Vjp<T>(ReadOnlySpan<T> x, ReadOnlySpan<T> y, ReadOnlySpan<T> g, Span<T> gx)
    {
        for (int i = 0; i < x.Length; i++) gx[i] += g[i] * y[i] * (T.One - y[i]);
    }
    /// <inheritdoc/>
    protected override Expr? Local(Expr x, Expr y, Expr g) => g * (y * (1 - y));
}

/// <summary><c>tanh(x)</c>.</summary>
public sealed record TanhOp : UnaryOp, IOpFunctions
{
    /// <inheritdoc/>
    public override string Name => "tanh";
    static IEnumerable<FunctionSpec> IOpFunctions.Functions => [Function("tanh", e => e.Tanh())];
    internal override string ToOnnx(OnnxLowering o, Node n, string[] x, string y) => o.Emit("Tanh", x, y);
    /// <inheritdoc/>
    protected override void Apply<T>(ReadOnlySpan<T> x, Span<T> y) => TensorPrimitives.Tanh(x, y);
    /// <inheritdoc/>
    protected override void Vjp<T>(ReadOnlySpan<T> x, ReadOnlySpan<T> y, ReadOnlySpan<T> g, Span<T> gx)
    {
        for (int i = 0; i < x.Length; i++) gx[i] += g[i] * (T.One - y[i] * y[i]);
    }
    /// <inheritdoc/>
    protected override Expr? Local(Expr x, Expr y, Expr g) => g * (1 - y.Square());
}

/// <summary><c>relu(x)</c> = max(x, 0); the gradient at 0 is 0.</summary>
public sealed record ReluOp : UnaryOp, IOpFunctions
{
    /// <inheritdoc/>
    public override string Name => "relu";
    static IEnumerable<FunctionSpec> IOpFunctions.Functions => [Function("relu", e => e.Relu())];
    internal override string ToOnnx(OnnxLowering o, Node n, string[] x, string y) => o.Emit("Relu", x, y);
    /// <inheritdoc/>
    protected override void Apply<T>(ReadOnlySpan<T> x, Span<T> y)
    {
        for (int i = 0; i < x.Length; i++) y[i] = x[i] > T.Zero ? x[i] : T.IsNaN(x[i]) ? x[i] : T.Zero;
    }
    /// <inheritdoc/>
    protected override void Vjp<T>(ReadOnlySpan<T> x, ReadOnlySpan<T> y, ReadOnlySpan<T> g, Span<T> gx)
    {
        for (int i = 0; i < x.Length; i++) if (x[i] > T.Zero) gx[i] += g[i];
    }
    /// <inheritdoc/>
    protected override Expr? Local(Expr x, Expr y, Expr g) => g * y.Sign();
}

/// <summary><c>softplus(x)</c> = log(1 + exp(x)), computed as max(x, 0) + log1p(exp(-|x|)) so it never overflows.</summary>
public sealed record SoftplusOp : UnaryOp, IOpFunctions
{
    /// <inheritdoc/>
    public override string Name => "softplus";
    static IEnumerable<FunctionSpec> IOpFunctions.Functions => [Function("softplus", e => e.Softplus())];
    internal override string ToOnnx(OnnxLowering o, Node n, string[] x, string y) => o.Emit("Add", [o.Emit("Relu", x), o.SoftplusOfMinusAbs(x[0])], y);
    /// <inheritdoc/>
    public override bool IsFused => true;
    /// <inheritdoc/>
    protected override void Apply<T>(ReadOnlySpan<T> x, Span<T> y)
    {
        for (int i = 0; i < x.Length; i++) y[i] = T.Max(x[i], T.Zero) + ScalarMath.Log1p(T.Exp(-T.Abs(x[i])));
    }
    /// <inheritdoc/>
    protected override void Vjp<T>(ReadOnlySpan<T> x, ReadOnlySpan<T> y, ReadOnlySpan<T> g, Span<T> gx)
    {
        for (int i = 0; i < x.Length; i++) gx[i] += g[i] * Sigmoid(x[i]);
    }
    /// <inheritdoc/>
    protected override Expr? Local(Expr x, Expr y, Expr g) => g * x.Sigmoid();

    internal static T Sigmoid<T>(T x) where T : IFloatingPointIeee754<T> =>
        x >= T.Zero ? T.One / (T.One + T.Exp(-x)) : T.Exp(x) / (T.One + T.Exp(x));
}

/// <summary><c>log_sigmoid(x)</c> = -softplus(-x), stable for any finite x.</summary>
public sealed record LogSigmoidOp : UnaryOp, IOpFunctions
{
    /// <inheritdoc/>
    public override string Name => "log_sigmoid";
    static IEnumerable<FunctionSpec> IOpFunctions.Functions => [Function("log_sigmoid", e => e.LogSigmoid())];
    internal override string ToOnnx(OnnxLowering o, Node n, string[] x, string y) => o.Emit("Sub", [o.Emit("Min", [x[0], o.Scalar("zero", 0, n.DType)]), o.SoftplusOfMinusAbs(x[0])], y);
    /// <inheritdoc/>
    public override bool IsFused => true;
    /// <inheritdoc/>
    protected override void Apply<T>(ReadOnlySpan<T> x, Span<T> y)
    {
        for (int i = 0; i < x.Length; i++) y[i] = T.Min(x[i], T.Zero) - ScalarMath.Log1p(T.Exp(-T.Abs(x[i])));
    }
    /// <inheritdoc/>
    protected override void Vjp<T>(ReadOnlySpan<T> x, ReadOnlySpan<T> y, ReadOnlySpan<T> g, Span<T> gx)
    {
        for (int i = 0; i < x.Length; i++) gx[i] += g[i] * SoftplusOp.Sigmoid(-x[i]);
    }
    /// <inheritdoc/>
    protected override Expr? Local(Expr x, Expr y, Expr g) => g * (-x).Sigmoid();
}

/// <summary><c>stop_gradient(x)</c>: the identity forward, no gradient backward; no rewrite rule matches across it.</summary>
public sealed record StopGradientOp : UnaryOp, IOpFunctions
{
    /// <inheritdoc/>
    public override string Name => "stop_gradient";
    static IEnumerable<FunctionSpec> IOpFunctions.Functions => [Function("stop_gradient", e => e.StopGradient())];
    internal override string ToOnnx(OnnxLowering o, Node n, string[] x, string y) => o.Emit("Identity", x, y);
    /// <inheritdoc/>
    public override bool IsDifferentiable(Node node, int index) => false;
    /// <inheritdoc/>
    protected override void Apply<T>(ReadOnlySpan<T> x, Span<T> y) => x.CopyTo(y);
    /// <inheritdoc/>
    protected override void Vjp<T>(ReadOnlySpan<T> x, ReadOnlySpan<T> y, ReadOnlySpan<T> g, Span<T> gx) { }
    /// <inheritdoc/>
    protected override Expr? Local(Expr x, Expr y, Expr g) => null;
}

public readonly partial struct Expr
{
    /// <summary><c>exp(x)</c>.</summary>
    public Expr Exp() => Apply(new ExpOp());
    /// <summary><c>log(x)</c>.</summary>
    public Expr Log() => Apply(new LogOp());
    /// <summary><c>sqrt(x)</c>.</summary>
    public Expr Sqrt() => Apply(new SqrtOp());
    /// <summary><c>abs(x)</c>.</summary>
    public Expr Abs() => Apply(new AbsOp());
    /// <summary><c>sign(x)</c>.</summary>
    public Expr Sign() => Apply(new SignOp());
    /// <summary><c>x·x</c>.</summary>
    public Expr Square() => Apply(new SquareOp());
    /// <summary><c>sigmoid(x)</c>.</summary>
    public Expr Sigmoid() => Apply(new SigmoidOp());
    /// <summary><c>tanh(x)</c>.</summary>
    public Expr Tanh() => Apply(new TanhOp());
    /// <summary><c>relu(x)</c>.</summary>
    public Expr Relu() => Apply(new ReluOp());
    /// <summary><c>softplus(x)</c> = log(1 + exp(x)), stable.</summary>
    public Expr Softplus() => Apply(new SoftplusOp());
    /// <summary><c>log_sigmoid(x)</c>, stable.</summary>
    public Expr LogSigmoid() => Apply(new LogSigmoidOp());
    /// <summary><c>stop_gradient(x)</c>.</summary>
    public Expr StopGradient() => Apply(new StopGradientOp());
}
