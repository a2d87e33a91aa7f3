using System.Buffers;
using System.Numerics;
using System.Numerics.Tensors;
using Autodiff.Interop;
using Autodiff.Text;
using Rows = Autodiff.Kernels.SoftmaxCrossEntropy;

namespace Autodiff;

// Stochastic softmax: seeded Gumbel(0, 1) noise and the three Gumbel ops (gumbel_max, gumbel_softmax, gumbel_top_k).
// Every op draws its noise from its `seed` attribute (and, when given, the value of its optional i64 scalar `step`
// operand) and the flat (row-major) index of each logit, so the noise is a fixed function of (seed, step, shape):
// evaluating the same graph again, on another thread count, in float32 or float64, gives the same noise, and feeding a
// new step value gives new noise without a new graph. Derivations: docs/stochastic.md.

/// <summary>Counter-based Gumbel(0, 1) noise. A stream is a 64-bit key: <see cref="Key(long)"/> of a seed, or
/// <see cref="Key(long, long)"/> of a seed and a step. Element <c>i</c> of stream <c>key</c> comes from the <c>i</c>-th
/// output of a SplitMix64 generator whose state starts at the key: bits = mix(key + (i + 1)·γ), with
/// γ = 0x9E3779B97F4A7C15 and mix the SplitMix64 finalizer. The value depends only on (key, index), never on the order or
/// the thread that draws it.</summary>
public static class GumbelNoise
{
    private const ulong Gamma = 0x9E3779B97F4A7C15UL;
    private const double Ulp53 = 1.0 / (1UL << 53);

    /// <summary>The stream of a seed alone: mix(seed).</summary>
    public static ulong Key(long seed) => Mix((ulong)seed);

    /// <summary>The stream of a seed at a step: mix(mix(seed) ⊕ mix(step + γ)). mix is a bijection, so distinct steps
    /// give distinct keys for one seed, and its avalanche makes the keys of nearby steps unrelated.</summary>
    public static ulong Key(long seed, long step) => Mix(Key(seed) ^ Mix((ulong)step + Gamma));

    /// <summary>The 64 random bits of element <paramref name="index"/> of the stream <paramref name="key"/>.</summary>
    public static ulong KeyBits(ulong key, long index) => Mix(key + ((ulong)index + 1) * Gamma);

    /// <summary>A standard Gumbel sample from <see cref="KeyBits"/>(key, index) (see <see cref="FromBits"/>).</summary>
    public static double KeySample(ulong key, long index) => FromBits(KeyBits(key, index));

    /// <summary>The 64 random bits of element <paramref name="index"/> of stream <paramref name="seed"/>:
    /// <see cref="KeyBits"/>(<see cref="Key(long)"/>(seed), index).</summary>
    public static ulong Bits(long seed, long index) => KeyBits(Key(seed), index);

    /// <summary>A uniform number in the open interval (0, 1) from <see cref="Bits"/>(seed, index) (see
    /// <see cref="UniformFromBits"/>).</summary>
    public static double Uniform(long seed, long index) => UniformFromBits(Bits(seed, index));

    /// <summary>u = (k + ½)·2⁻⁵² for the top 52 bits k, which is exact in double, so 2⁻⁵³ ≤ u ≤ 1 − 2⁻⁵³: never 0 or 1.
    /// (With 53 bits, k + ½ would round and the largest k would give exactly 1.)</summary>
    public static double UniformFromBits(ulong bits) => ((bits >> 12) + 0.5) * (1.0 / (1UL << 52));

    /// <summary>A standard Gumbel sample −log(−log u), u = <see cref="Uniform"/>(seed, index).</summary>
    public static double Sample(long seed, long index) => FromBits(Bits(seed, index));

    /// <summary>The standard Gumbel value of 64 random bits: −log(−log u) with u = (k + ½)·2⁻⁵³ and k the top 53 bits.
    /// For u ≥ ½, −log u is computed as −log1p(−(1 − u)) with 1 − u = (2⁵³ − 1 − k + ½)·2⁻⁵³ formed exactly, so the
    /// result keeps full precision up to its largest value 54·ln 2 ≈ 37.43 (at k = 2⁵³ − 1, where the naive formula,
    /// with u rounded to 1, would give +inf) and down to its smallest −log(54·ln 2) ≈ −3.62 (at k = 0). The result is
    /// always finite and never decreases as k grows.</summary>
    public static double FromBits(ulong bits)
    {
        ulong k = bits >> 11;
        double minusLogU = k < 1UL << 52
            ? -Math.Log((k + 0.5) * Ulp53)
            : -ScalarMath.Log1p(-(((1UL << 53) - 1 - k) + 0.5) * Ulp53);
        return -Math.Log(minusLogU);
    }

    private static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}

/// <summary>Row access shared by the Gumbel ops: the logits along one axis as rows [Outer, N, Inner] (row r = o·Inner + i),
/// each element keeping its flat index in the logits, which keys its noise.</summary>
internal static class GumbelRows
{
    /// <summary>The ordering key of a perturbed logit: first the class (+inf logit 2, finite 1, −inf 0), then the value
    /// (the noise alone for an infinite logit, logit + noise otherwise). Among +inf logits the winner is the largest noise,
    /// the limit of equal logits growing together; −inf logits come after every finite one, in noise order.</summary>
    public readonly record struct Key(int Class, double Value)
    {
        /// <summary>Loses to every key: marks an element already taken.</summary>
        public static readonly Key Taken = new(-1, 0);

        /// <summary>The perturbed value logit + noise (±inf for an infinite logit, NaN for a NaN one).</summary>
        public double Perturbed => Class switch { 2 => double.PositiveInfinity, 0 => double.NegativeInfinity, _ => Value };

        public static Key Of(double x, double g) =>
            double.IsPositiveInfinity(x) ? new(2, g) : double.IsNegativeInfinity(x) ? new(0, g) : new(1, x + g);

        public bool Beats(Key other) => Class != other.Class ? Class > other.Class : Value > other.Value;
    }

    /// <summary>Flat index in the logits of element <paramref name="j"/> of row <paramref name="r"/>.</summary>
    public static long Flat(RowLayout l, int r, int j) => ((long)(r / l.Inner) * l.N + j) * l.Inner + r % l.Inner;

    /// <summary>Throws if any logit is NaN (integer results cannot carry it), naming the op and the position.</summary>
    public static void RequireNoNaN<T>(string op, Tensor x) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var s = x.Span<T>();
        for (int f = 0; f < s.Length; f++)
        {
            if (!T.IsNaN(s[f])) continue;
            var pos = new int[x.Shape.Rank];
            for (int d = pos.Length - 1, q = f; d >= 0; d--) { pos[d] = q % x.Shape[d]; q /= x.Shape[d]; }
            throw new AutodiffException($"{op}: logit at position {Shape.Format(pos)} of {x.Shape} is NaN");
        }
    }

    /// <summary>The keys of row <paramref name="r"/>.</summary>
    public static void Keys<T>(ReadOnlySpan<T> x, RowLayout l, int r, ulong stream, Span<Key> keys) where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (int j = 0; j < l.N; j++)
        {
            long f = Flat(l, r, j);
            keys[j] = Key.Of(double.CreateTruncating(x[(int)f]), GumbelNoise.KeySample(stream, f));
        }
    }

    /// <summary>The index of the largest key (the first one on a tie).</summary>
    public static int ArgMax(ReadOnlySpan<Key> keys)
    {
        int best = 0;
        for (int j = 1; j < keys.Length; j++) if (keys[j].Beats(keys[best])) best = j;
        return best;
    }

    /// <summary>Runs <paramref name="body"/>(row, keys) over every row, in parallel chunks, each with its own key buffer.</summary>
    public static void ForRows<T>(Tensor x, RowLayout l, ulong stream, Action<int, Key[]> body) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var data = (T[])x.Data;
        Kernels.Parallelism.For(l.Rows, Math.Max(l.N, 1) * 16L, (start, end) =>
        {
            var keys = new Key[l.N];
            for (int r = start; r < end; r++)
            {
                Keys<T>(data, l, r, stream, keys);
                body(r, keys);
            }
        });
    }

    /// <summary>The noise stream of a run: <see cref="GumbelNoise.Key(long)"/>(seed) without a step operand, else
    /// <see cref="GumbelNoise.Key(long, long)"/>(seed, the step's value), the step being operand
    /// <paramref name="stepIndex"/>.</summary>
    public static ulong Stream(OpContext c, int seed, int stepIndex) =>
        c.Inputs.Count > stepIndex ? GumbelNoise.Key(seed, ((long[])c.Inputs[stepIndex].Data)[0]) : GumbelNoise.Key(seed);

    /// <summary><c>step</c> for the optional step operand at <paramref name="stepIndex"/>, null otherwise.</summary>
    public static string? OperandName(int index, int stepIndex) => index == stepIndex ? "step" : null;

    /// <summary>No gradient for any operand (the step, and the logits of the integer samples).</summary>
    public static Expr?[] NoGradient(Node node) => new Expr?[node.Inputs.Count];

    /// <summary>Checks the optional step operand at <paramref name="stepIndex"/>: an i64 scalar.</summary>
    public static void CheckStep(Op op, IReadOnlyList<Node> inputs, int stepIndex)
    {
        if (inputs.Count <= stepIndex) return;
        var s = inputs[stepIndex];
        if (s.DType != DType.I64 || s.Shape.Rank != 0)
            throw new ShapeException(op.Name, $"step must be an i64 scalar (shape []), got {s.DType.Name()}{s.Shape}");
    }

    /// <summary>Checks that the operands are one float tensor and an optional step, and that the axis is in range.</summary>
    public static void Check(Op op, IReadOnlyList<Node> inputs, int axis)
    {
        FusedShapes.Operands(op, inputs, 1, 2, "logits[, step]");
        CheckStep(op, inputs, 1);
        if (!inputs[0].DType.IsFloat()) throw new ShapeException(op.Name, $"logits must be f32 or f64, got {inputs[0].DType.Name()}{inputs[0].Shape}");
        FusedShapes.Axis(op, axis, inputs[0].Shape);
        if (inputs[0].Shape[axis] == 0) throw new ShapeException(op.Name, $"axis {axis} of {inputs[0].Shape} is empty: there is no category to sample");
    }
}

/// <summary><c>gumbel_noise(shape=(...), seed=s, dtype=t)</c> or <c>gumbel_noise(step=n, shape=(...), seed=s, dtype=t)</c>:
/// a tensor of independent standard Gumbel samples, element i being <see cref="GumbelNoise.Sample"/>(s, i) (computed in
/// double, then rounded to the element type), or with the optional i64 scalar operand <c>step</c>,
/// <see cref="GumbelNoise.KeySample"/>(<see cref="GumbelNoise.Key(long, long)"/>(s, step), i). The same (shape, seed,
/// step) always gives the same tensor: building it twice gives one node (hash-consing), and every evaluation recomputes
/// the same values. Use distinct seeds, or feed a new step value to the same graph, for independent noise. No
/// gradient.</summary>
/// <param name="Dims">The shape.</param>
/// <param name="Seed">The stream.</param>
/// <param name="Type">The float element type.</param>
[NotExportable("no ONNX operator reproduces this library's Gumbel noise, a fixed function of the seed, the step and the element index")]
public sealed record GumbelNoiseOp(IntList Dims, int Seed, DType Type) : Op, IOpFunctions
{
    /// <inheritdoc/>
    public override string Name => "gumbel_noise";
    static IEnumerable<FunctionSpec> IOpFunctions.Functions =>
        [new("gumbel_noise", [FunctionParam.Ints("shape"), FunctionParam.Int("seed"), FunctionParam.DType("dtype"), Step],
            c => Expr.GumbelNoise(c.Builder, c.Ints("shape")!, c.Int("seed"), c.DType("dtype", c.DefaultFloat), c.OptionalTensor("step")))];

    /// <summary>The optional i64 scalar <c>step</c> operand of the Gumbel functions. It prints as a named argument, so its
    /// parameter comes last and positional calls without it keep their meaning.</summary>
    internal static FunctionParam Step => FunctionParam.IntegerTensor("step", optional: true);
    /// <inheritdoc/>
    public override bool IsFused => true;
    /// <inheritdoc/>
    public override IEnumerable<(string? Name, string Value)> Attributes(Node node) =>
        [("shape", Dims.ToString()), ("seed", FusedShapes.Text(Seed)), ("dtype", Type.Name())];
    /// <inheritdoc/>
    public override Op WithFloatType(DType dtype) => this with { Type = dtype };
    /// <summary><c>step</c> for the optional step operand.</summary>
    public override string? OperandName(int index) => GumbelRows.OperandName(index, 0);
    /// <inheritdoc/>
    public override (Shape Shape, DType DType) Infer(IReadOnlyList<Node> inputs)
    {
        FusedShapes.Operands(this, inputs, 0, 1, "[step]");
        GumbelRows.CheckStep(this, inputs, 0);
        if (!Type.IsFloat()) throw new ShapeException(Name, $"dtype must be f32 or f64, got {Type.Name()}");
        if (Dims.Any(d => d < 0)) throw new ShapeException(Name, $"shape {Dims} has a negative dimension");
        return (new Shape(Dims.ToArray()), Type);
    }
    /// <inheritdoc/>
    protected override void Forward<T>(OpContext c)
    {
        var y = (T[])c.Output.Data;
        ulong stream = GumbelRows.Stream(c, Seed, 0);
        Kernels.Parallelism.For(y.Length, 16, (start, end) =>
        {
            for (int i = start; i < end; i++) y[i] = T.CreateTruncating(GumbelNoise.KeySample(stream, i));
        });
    }
    /// <inheritdoc/>
    public override void Backward(OpContext c) { }
    /// <summary>None: the step carries no gradient.</summary>
    public override Expr?[] Gradient(Node node, Expr g) => GumbelRows.NoGradient(node);
}

/// <summary><c>gumbel_max(logits, axis=a, seed=s)</c>: one categorical sample per row, k = argmax_j (logits_j + G_j) with
/// G_j = <see cref="GumbelNoise.Sample"/>(s, flat index of logit j), which is distributed as softmax(logits) along the
/// axis (the Gumbel-max trick). Returns i64 indices with the axis removed. No exponential, no normalisation: the
/// comparison is done in double on logit + noise, so logits of any finite magnitude (1e3, 1e30) are exact.
/// A −inf logit is never chosen while a row has a finite one; among +inf logits the largest noise wins (uniform among
/// them); a NaN logit is an error. Not differentiable: the result is an integer, so no gradient flows to the logits
/// (use <see cref="GumbelSoftmaxOp"/> for a relaxed, differentiable sample, or a score-function estimator).
/// With the optional i64 scalar operand <c>step</c> (<c>gumbel_max(logits, step=n, axis=a, seed=s)</c>) the noise is
/// <see cref="GumbelNoise.KeySample"/>(<see cref="GumbelNoise.Key(long, long)"/>(s, step), flat index): a new step value
/// draws new samples from the same graph and tape.</summary>
/// <param name="Axis">The category axis, resolved (non-negative).</param>
/// <param name="Seed">The noise stream.</param>
[NotExportable("no ONNX operator reproduces this library's Gumbel noise, a fixed function of the seed, the step and the element index")]
public sealed record GumbelMaxOp(int Axis, int Seed) : Op, IOpFunctions
{
    /// <inheritdoc/>
    public override string Name => "gumbel_max";
    static IEnumerable<FunctionSpec> IOpFunctions.Functions =>
        [new("gumbel_max", [FunctionParam.Tensor("logits"), FunctionParam.Int("axis", optional: true), FunctionParam.Int("seed"), GumbelNoiseOp.Step],
            c => c.Tensor("logits").GumbelMax(c.Int("seed"), c.Int("axis", -1), c.OptionalTensor("step")))];
    /// <inheritdoc/>
    public override bool IsFused => true;
    /// <inheritdoc/>
    public override IEnumerable<(string? Name, string Value)> Attributes(Node node) =>
        [("axis", FusedShapes.Text(Axis)), ("seed", FusedShapes.Text(Seed))];
    /// <summary><c>step</c> for the optional step operand.</summary>
    public override string? OperandName(int index) => GumbelRows.OperandName(index, 1);
    /// <inheritdoc/>
    public override (Shape Shape, DType DType) Infer(IReadOnlyList<Node> inputs)
    {
        GumbelRows.Check(this, inputs, Axis);
        return (FusedShapes.Without(inputs[0].Shape, Axis), DType.I64);
    }
    /// <inheritdoc/>
    public override bool IsDifferentiable(Node node, int index) => false;
    /// <inheritdoc/>
    protected override void Forward<T>(OpContext c)
    {
        GumbelRows.RequireNoNaN<T>(Name, c.Inputs[0]);
        var y = (long[])c.Output.Data;
        GumbelRows.ForRows<T>(c.Inputs[0], RowLayout.Of(c.Inputs[0].Shape, Axis), GumbelRows.Stream(c, Seed, 1), (r, keys) => y[r] = GumbelRows.ArgMax(keys));
    }
    /// <inheritdoc/>
    public override void Backward(OpContext c) { }
    /// <summary>None: the result is an integer sample (and the step carries no gradient).</summary>
    public override Expr?[] Gradient(Node node, Expr g) => GumbelRows.NoGradient(node);
}

/// <summary><c>gumbel_top_k(logits, k=n, axis=a, seed=s)</c>: k samples without replacement per row: the indices of the
/// k largest perturbed logits logits_j + G_j (same noise as <see cref="GumbelMaxOp"/> with the same seed), in
/// descending perturbed order. The ordered result is distributed as sequential sampling without replacement from
/// softmax(logits) (the Gumbel-top-k trick), and its first column equals gumbel_max. Returns i64 with the axis replaced
/// by k. Ordering of non-finite logits as in <see cref="GumbelMaxOp"/> (−inf logits come last, in noise order; NaN is an
/// error). Not differentiable. The optional i64 scalar operand <c>step</c> keys the noise as in <see cref="GumbelMaxOp"/>.</summary>
/// <param name="K">Number of samples, 1 ≤ k ≤ the axis size.</param>
/// <param name="Axis">The category axis, resolved (non-negative).</param>
/// <param name="Seed">The noise stream.</param>
[NotExportable("no ONNX operator reproduces this library's Gumbel noise, a fixed function of the seed, the step and the element index")]
public sealed record GumbelTopKOp(int K, int Axis, int Seed) : Op, IOpFunctions
{
    /// <inheritdoc/>
    public override string Name => "gumbel_top_k";
    static IEnumerable<FunctionSpec> IOpFunctions.Functions =>
        [new("gumbel_top_k", [FunctionParam.Tensor("logits"), FunctionParam.Int("k"), FunctionParam.Int("axis", optional: true), FunctionParam.Int("seed"), GumbelNoiseOp.Step],
            c => c.Tensor("logits").GumbelTopK(c.Int("k"), c.Int("seed"), c.Int("axis", -1), c.OptionalTensor("step")))];
    /// <inheritdoc/>
    public override bool IsFused => true;
    /// <inheritdoc/>
    public override IEnumerable<(string? Name, string Value)> Attributes(Node node) =>
        [("k", FusedShapes.Text(K)), ("axis", FusedShapes.Text(Axis)), ("seed", FusedShapes.Text(Seed))];
    /// <summary><c>step</c> for the optional step operand.</summary>
    public override string? OperandName(int index) => GumbelRows.OperandName(index, 1);
    /// <inheritdoc/>
    public override (Shape Shape, DType DType) Infer(IReadOnlyList<Node> inputs)
    {
        GumbelRows.Check(this, inputs, Axis);
        var x = inputs[0].Shape;
        if (K < 1 || K > x[Axis]) throw new ShapeException(Name, $"k = {K} must be in [1, {x[Axis]}] (the size of axis {Axis} of {x})");
        var s = x.ToArray();
        s[Axis] = K;
        return (new Shape(s), DType.I64);
    }
    /// <inheritdoc/>
    public override bool IsDifferentiable(Node node, int index) => false;
    /// <inheritdoc/>
    protected override void Forward<T>(OpContext c)
    {
        GumbelRows.RequireNoNaN<T>(Name, c.Inputs[0]);
        var l = RowLayout.Of(c.Inputs[0].Shape, Axis);
        var y = (long[])c.Output.Data;
        GumbelRows.ForRows<T>(c.Inputs[0], l, GumbelRows.Stream(c, Seed, 1), (r, keys) =>
        {
            for (int j = 0; j < K; j++)
            {
                int best = GumbelRows.ArgMax(keys);
                y[((long)(r / l.Inner) * K + j) * l.Inner + r % l.Inner] = best;
                keys[best] = GumbelRows.Key.Taken;
            }
        });
    }
    /// <inheritdoc/>
    public override void Backward(OpContext c) { }
    /// <summary>None: the result is an integer sample (and the step carries no gradient).</summary>
    public override Expr?[] Gradient(Node node, Expr g) => GumbelRows.NoGradient(node);
}

/// <summary>Saved relaxed rows of a hard <see cref="GumbelSoftmaxOp"/> (its output is the one-hot, its gradient is the
/// relaxed one's).</summary>
internal sealed class SoftRows
{
    private Array? _rows;

    public T[] Get<T>(int n)
    {
        if (_rows is T[] a && a.Length == n) return a;
        var r = new T[n];
        _rows = r;
        return r;
    }
}

/// <summary><c>gumbel_softmax(logits, tau=t, axis=a, hard=false, seed=s)</c>: the Concrete / Gumbel-softmax relaxation
/// y = softmax((logits + G)/τ) along the axis, G the same noise as <see cref="GumbelMaxOp"/> with the same seed. The
/// forward forms v = logits + G and (v − max v)/τ in double before the max-shifted softmax kernel, so it is finite for
/// τ = 0.01 and logits of magnitude 1e3 (non-finite rows follow <see cref="Kernels.Softmax"/>'s policy).
/// The noise is fixed by the seed, so y is a deterministic, differentiable function of the logits (the
/// reparameterization): gx += (1/τ)·y ⊙ (g − Σ g⊙y). With <c>hard=true</c> (straight-through) the output is the exact
/// one-hot row of the sample argmax(logits + G) — the same index as gumbel_max with that seed; a row with a NaN logit
/// gives a NaN row — and the backward is the relaxed gradient above, evaluated at the saved relaxed y. The optional i64
/// scalar operand <c>step</c> keys the noise as in <see cref="GumbelMaxOp"/>; it carries no gradient.</summary>
/// <param name="Tau">The temperature τ &gt; 0.</param>
/// <param name="Axis">The category axis, resolved (non-negative).</param>
/// <param name="Hard">Straight-through: one-hot forward, relaxed backward.</param>
/// <param name="Seed">The noise stream.</param>
[NotExportable("no ONNX operator reproduces this library's Gumbel noise, a fixed function of the seed, the step and the element index")]
public sealed record GumbelSoftmaxOp(double Tau, int Axis, bool Hard, int Seed) : Op, IOpFunctions
{
    /// <inheritdoc/>
    public override string Name => "gumbel_softmax";
    static IEnumerable<FunctionSpec> IOpFunctions.Functions =>
        [new("gumbel_softmax", [FunctionParam.Tensor("logits"), FunctionParam.Number("tau"), FunctionParam.Int("axis", optional: true), FunctionParam.Bool("hard"), FunctionParam.Int("seed"), GumbelNoiseOp.Step],
            c => c.Tensor("logits").GumbelSoftmax(c.Number("tau"), c.Int("seed"), c.Int("axis", -1), c.Bool("hard"), c.OptionalTensor("step")))];
    /// <inheritdoc/>
    public override bool IsFused => true;
    /// <inheritdoc/>
    public override IEnumerable<(string? Name, string Value)> Attributes(Node node)
    {
        yield return ("tau", FusedShapes.Text(Tau));
        yield return ("axis", FusedShapes.Text(Axis));
        if (Hard) yield return ("hard", "true");
        yield return ("seed", FusedShapes.Text(Seed));
    }
    /// <summary><c>step</c> for the optional step operand.</summary>
    public override string? OperandName(int index) => GumbelRows.OperandName(index, 1);
    /// <inheritdoc/>
    public override (Shape Shape, DType DType) Infer(IReadOnlyList<Node> inputs)
    {
        GumbelRows.Check(this, inputs, Axis);
        if (!(Tau > 0 && double.IsFinite(Tau))) throw new ShapeException(Name, $"tau must be positive and finite, got {FusedShapes.Text(Tau)} (logits {inputs[0].Shape})");
        return (inputs[0].Shape, inputs[0].DType);
    }
    /// <inheritdoc/>
    public override object? CreateState(Node node) => Hard ? new SoftRows() : null;
    /// <inheritdoc/>
    protected override void Forward<T>(OpContext c)
    {
        var l = RowLayout.Of(c.Inputs[0].Shape, Axis);
        using var soft = Hard ? default : RowBuffer<T>.Target(c.Output, l, clear: false);
        var rows = Hard ? ((SoftRows)c.State!).Get<T>(l.Size) : soft.Array;
        var y = (T[])c.Output.Data;
        if (Hard) Array.Clear(y);
        GumbelRows.ForRows<T>(c.Inputs[0], l, GumbelRows.Stream(c, Seed, 1), (r, keys) =>
        {
            double m = double.NegativeInfinity;
            bool nan = false;
            foreach (var k in keys)
            {
                nan |= double.IsNaN(k.Perturbed);
                m = Math.Max(m, k.Perturbed);
            }
            double shift = double.IsFinite(m) ? m : 0;
            for (int j = 0; j < l.N; j++) rows[r * l.N + j] = T.CreateTruncating((keys[j].Perturbed - shift) / Tau);
            if (!Hard) return;
            if (nan) for (int j = 0; j < l.N; j++) y[GumbelRows.Flat(l, r, j)] = T.NaN;
            else y[GumbelRows.Flat(l, r, GumbelRows.ArgMax(keys))] = T.One;
        });
        Kernels.Softmax.SoftmaxRows<T>(rows.AsSpan(0, l.Size), l.Rows, l.N, rows.AsSpan(0, l.Size));
        if (!Hard) soft.Store(c.Output, l, accumulate: false);
    }
    /// <inheritdoc/>
    protected override void Backward<T>(OpContext c)
    {
        if (c.InputGrads[0] is not { } gx) return;
        var l = RowLayout.Of(gx.Shape, Axis);
        using var soft = Hard ? default : RowBuffer<T>.Read(c.Output, l);
        var y = Hard ? ((SoftRows)c.State!).Get<T>(l.Size) : soft.Array;
        using var g = RowBuffer<T>.Read(c.GradOutput, l);
        var scaled = Pool.Rent<T>(Math.Max(l.Size, 1));
        try
        {
            TensorPrimitives.Multiply(g.Array.AsSpan(0, l.Size), T.CreateTruncating(1 / Tau), scaled.AsSpan(0, l.Size));
            using var d = RowBuffer<T>.Target(gx, l, clear: true);
            Rows.SoftmaxBackward(y, scaled, d.Array, l.Rows, l.N);
            d.Store(gx, l, accumulate: true);
        }
        finally
        {
            Pool.Return(scaled);
        }
    }
    /// <summary><c>y * (g - sum(g * y, axis, keepdims=true)) / tau</c>, y being the relaxed sample: the node itself, or for
    /// <c>hard=true</c> the same call (same step) with <c>hard=false</c>; none for the step.</summary>
    public override Expr?[] Gradient(Node node, Expr g)
    {
        Expr y = Hard ? node.Inputs[0].Expr.Apply(this with { Hard = false }, [.. node.Inputs.Skip(1).Select(s => s.Expr)]) : node;
        var grads = GumbelRows.NoGradient(node);
        grads[0] = y * (g - (g * y).Sum(Axis, keepDims: true)) / Tau;
        return grads;
    }
}

public readonly partial struct Expr
{
    /// <summary><c>gumbel_noise(shape, seed, dtype)</c>: standard Gumbel noise keyed by (seed, flat index), or by
    /// (seed, step value, flat index) with the optional i64 scalar <paramref name="step"/> (see <see cref="GumbelNoiseOp"/>).</summary>
    public static Expr GumbelNoise(GraphBuilder builder, int[] shape, int seed, DType dtype = DType.F32, Expr? step = null) =>
        builder.Make(new GumbelNoiseOp(new IntList(shape), seed, dtype), step is { } s ? [s.Node] : []).Expr;

    /// <summary><c>gumbel_max(logits, axis, seed)</c>: one categorical sample from softmax(logits) along the axis; the optional
    /// i64 scalar <paramref name="step"/> keys the noise with the seed (see <see cref="GumbelMaxOp"/>).</summary>
    public Expr GumbelMax(int seed, int axis = -1, Expr? step = null) =>
        Apply(new GumbelMaxOp(Shape.Axis(axis, "gumbel_max"), seed), Step(step));

    /// <summary><c>gumbel_softmax(logits, tau, axis, hard, seed)</c>: the relaxed (or straight-through, when
    /// <paramref name="hard"/>) Gumbel-softmax sample; the optional i64 scalar <paramref name="step"/> keys the noise with
    /// the seed (see <see cref="GumbelSoftmaxOp"/>).</summary>
    public Expr GumbelSoftmax(double tau, int seed, int axis = -1, bool hard = false, Expr? step = null) =>
        Apply(new GumbelSoftmaxOp(tau, Shape.Axis(axis, "gumbel_softmax"), hard, seed), Step(step));

    /// <summary><c>gumbel_top_k(logits, k, axis, seed)</c>: k samples without replacement along the axis, in descending
    /// perturbed order; the optional i64 scalar <paramref name="step"/> keys the noise with the seed (see
    /// <see cref="GumbelTopKOp"/>).</summary>
    public Expr GumbelTopK(int k, int seed, int axis = -1, Expr? step = null) =>
        Apply(new GumbelTopKOp(k, Shape.Axis(axis, "gumbel_top_k"), seed), Step(step));

    private static Expr[] Step(Expr? step) => step is { } s ? [s] : [];
}
