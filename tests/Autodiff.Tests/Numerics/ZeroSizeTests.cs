using Autodiff.Tests.Ops;
using Autodiff.Tests.Fused;

namespace Autodiff.Tests.Numerics;

/// <summary>Zero-size dimensions, 0-d tensors and size-1 dimensions through every core op, forward and backward, driven
/// from <see cref="OpGradientTable.Cases"/>: each case's shapes are rewritten (every dimension of one size becomes 0 or 1,
/// or an input becomes 0-d) and every variant the op accepts is run. The tape's gradients must have the inputs' shapes, be
/// finite (exactly 0 where the output is empty), equal the symbolic gradient, and pass the finite-difference check.</summary>
public class ZeroSizeTests
{
    public enum Kind { ZeroSize, SizeOne, ZeroD }

    /// <summary>The shape variants of a case: for each dimension size that occurs, all dimensions of that size replaced by 0
    /// (or 1); each float input made 0-d; every input made 0-d.</summary>
    public static IEnumerable<(Kind Kind, OpGradientTable.Case Case)> Variants(OpGradientTable.Case c)
    {
        var seen = new HashSet<string>();
        (Kind, OpGradientTable.Case)? Make(Kind kind, Func<int, int[], int[]> map)
        {
            var inputs = c.Inputs.Select((x, i) => (x.Name, x.Type, map(i, x.Shape), x.Dist)).ToArray();
            string key = string.Join(";", inputs.Select(x => string.Join(",", x.Item3)));
            if (!seen.Add(key) || inputs.Select(x => x.Item3).SequenceEqual(c.Inputs.Select(x => x.Shape), new ShapeEq())) return null;
            return (kind, c with { Name = $"{c.Name} {string.Join(" ", inputs.Select(x => new Shape(x.Item3).ToString()))}", Inputs = inputs });
        }
        var sizes = c.Inputs.SelectMany(x => x.Shape).Distinct().ToArray();
        foreach (var v in sizes)
            foreach (var (r, kind) in new[] { (0, Kind.ZeroSize), (1, Kind.SizeOne) })
                if (Make(kind, (_, s) => s.Select(d => d == v ? r : d).ToArray()) is { } m) yield return m;
        for (int i = 0; i < c.Inputs.Length; i++)
        {
            int k = i;
            if (c.Inputs[k].Type.IsFloat() && Make(Kind.ZeroD, (j, s) => j == k ? [] : s) is { } m) yield return m;
        }
        if (Make(Kind.ZeroD, (_, _) => []) is { } all) yield return all;
    }

    private sealed class ShapeEq : IEqualityComparer<int[]>
    {
        public bool Equals(int[]? a, int[]? b) => a!.SequenceEqual(b!);
        public int GetHashCode(int[] a) => a.Length;
    }

    /// <summary>Builds the variant, or null when the op rejects its shapes (a <see cref="ShapeException"/>, as it must).</summary>
    private static (Graph Graph, Dictionary<string, Tensor> Inputs)? TryInstantiate(OpGradientTable.Case v, int seed)
    {
        try
        {
            return OpGradientTable.Instantiate(v, seed);
        }
        catch (ShapeException)
        {
            return null;
        }
    }

    public static TheoryData<string> CaseNames()
    {
        var d = new TheoryData<string>();
        foreach (var c in OpGradientTable.Cases) d.Add(c.Name);
        return d;
    }

    [Theory]
    [MemberData(nameof(CaseNames))]
    public void EveryShapeVariantRunsForwardAndBackward(string name)
    {
        var c = OpGradientTable.Cases.Single(x => x.Name == name);
        var ran = new Dictionary<Kind, int>();
        foreach (var (kind, v) in Variants(c))
        {
            if (TryInstantiate(v, 3) is not { } inst) continue;
            var (g, x) = inst;
            if (!RunsOrRejectsIndices(v, g, x)) continue;
            ran[kind] = ran.GetValueOrDefault(kind) + 1;
        }
        // broadcast_to's case fixes its target shape, which no zero-size input broadcasts to.
        Assert.True(ran.GetValueOrDefault(Kind.ZeroSize) > 0 || name == "broadcast_to", $"{name}: no zero-size variant was accepted");
        Assert.True(ran.GetValueOrDefault(Kind.SizeOne) > 0 || c.Inputs.All(i => i.Shape.All(d => d == 1)), $"{name}: no size-1 variant was accepted");
    }

    /// <summary>Zero-size shapes through the fused ops (empty batches, empty class axes, along every axis), against the
    /// cases' double oracles: logsumexp of an empty row is −inf, the cross-entropy of an empty class axis 0.</summary>
    private static readonly FusedCase[] EmptyFused =
    [
        new SoftmaxCase(new(0, 5), 1, false),
        new SoftmaxCase(new(4, 0), 1, false),
        new SoftmaxCase(new(4, 0), 0, true),
        new SoftmaxCase(new(2, 0, 3), 2, true),
        new LogSumExpCase(new(2, 0, 4), [1], false),
        new LogSumExpCase(new(2, 0, 4), [0, 1], true),
        new LogSumExpCase(new(0, 3), [0], false),
        new DenseCase(new(0, 5), 1, Normalized: true),
        new DenseCase(new(4, 0), 1, Normalized: false, Eps: 0.1, Weights: true),
        new DenseCase(new(3, 0), 0, Normalized: true),
        new SparseCase(new(0, 5), 1),
        new SparseCase(new(0, 5), 1, Ignore: -100, Eps: 0.1, Weights: true),
        new SparseCase(new(5, 0), 0),
        new LogAddExpCase(new(0, 3), new(3)),
        new LogAddExpCase(new(2, 0), Shape.Scalar),
    ];

    public static TheoryData<int, DType> EmptyFusedData()
    {
        var d = new TheoryData<int, DType>();
        for (int i = 0; i < EmptyFused.Length; i++)
        {
            d.Add(i, DType.F32);
            d.Add(i, DType.F64);
        }
        return d;
    }

    [Theory]
    [MemberData(nameof(EmptyFusedData))]
    public void FusedOpsAcceptZeroSizeShapes(int index, DType dt) =>
        FusedRun.AgainstOracle(EmptyFused[index], dt, dt == DType.F32 ? 2e-5 : 1e-12);

    /// <summary>Runs one variant; false when it was refused at run time because the drawn indices fall outside the shrunk
    /// class axis (an error naming the index, as the policy asks).</summary>
    private static bool RunsOrRejectsIndices(OpGradientTable.Case v, Graph g, Dictionary<string, Tensor> x)
    {
        var cot = Tensor.RandomNormal(DType.F64, g.Output.Shape, new Random(5));
        Tensor value;
        Dictionary<string, Tensor> grads;
        try
        {
            var (val, gr) = new Tape(g).Run(x, cot);
            value = val;
            grads = gr.ToDictionary(kv => kv.Key, kv => kv.Value.Clone());
        }
        catch (AutodiffException e) when (e.Message.StartsWith("take: index ", StringComparison.Ordinal) || e.Message.StartsWith("one_hot: index ", StringComparison.Ordinal)
            || e.Message.StartsWith("linear_softmax_cross_entropy: index ", StringComparison.Ordinal))
        {
            return false;
        }
        Assert.Equal(g.Output.Shape, value.Shape);
        foreach (var input in g.Inputs.Where(i => i.DType.IsFloat()))
        {
            var name = ((InputOp)input.Op).InputName;
            var gv = grads[name];
            Assert.Equal(input.Shape, gv.Shape);
            for (int i = 0; i < gv.Size; i++)
            {
                double d = gv.GetDouble(i);
                Assert.True(double.IsFinite(d), $"{v.Name}: d/d{name}[{i}] = {d:R}");
                if (value.Size == 0) Assert.True(d == 0, $"{v.Name}: the output is empty but d/d{name}[{i}] = {d:R}");
            }
        }

        // The symbolic gradient (another implementation of every VJP) on the same shapes.
        var b = g.Builder;
        var seed = b.Input("seed_cotangent_" + g.Builder.NodeCount, DType.F64, g.Output.Shape.ToArray());
        var sym = SymbolicGradient.Of(g, seed: seed);
        var xs = new Dictionary<string, Tensor>(x) { [((InputOp)seed.Node.Op).InputName] = cot };
        foreach (var (name, expr) in sym)
        {
            var want = grads[name];
            var got = new Tape(b.Build(expr), []).Forward(xs);
            Assert.Equal(want.Shape, got.Shape);
            for (int i = 0; i < got.Size; i++) Assert.Equal(want.GetDouble(i), got.GetDouble(i), 10);
        }

        var check = GradientChecker.Check(g, x);
        Assert.True(check.Passed, $"{v.Name}: {check}");
        return true;
    }
}
