namespace Autodiff;

/// <summary>Reproducible input values for a graph: what <c>autodiff compare</c>, <c>eval</c> and <c>bench</c> run on when
/// no values are given, and what <c>Autodiff.Testing.GraphAssert</c> generates. The values respect the declared facts,
/// so the simplifier's proofs hold on them.</summary>
public static class InputValues
{
    /// <summary>Values for every declared input of <paramref name="graph"/>, generated from one <see cref="Random"/>
    /// seeded with <paramref name="seed"/>, in declaration order (so an input's values depend only on the seed, the scale
    /// and the declarations before it):
    /// <list type="bullet">
    /// <item>float with <c>probs(axis=a)</c>: uniform in [0, 1) plus 1e-3, each row along <c>a</c> divided by its sum;</item>
    /// <item>float with <c>positive</c>: |normal(0, scale)|, at least 1e-6 · scale;</item>
    /// <item>other float: normal(0, scale);</item>
    /// <item>i64 with <c>classes(C)</c>: uniform integers in [0, C);</item>
    /// <item>other i64: uniform integers in [0, 2).</item>
    /// </list></summary>
    public static Dictionary<string, Tensor> Generate(Graph graph, int seed = 0, double scale = 1)
    {
        ArgumentNullException.ThrowIfNull(graph);
        if (!double.IsFinite(scale)) throw new ArgumentOutOfRangeException(nameof(scale), scale, "the scale of generated inputs must be finite");
        var rng = new Random(seed);
        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var node in graph.Inputs)
        {
            var io = (InputOp)node.Op;
            result[io.InputName] = Generate(io, rng, scale);
        }
        return result;
    }

    /// <summary>Values for one input; see <see cref="Generate(Graph, int, double)"/>.</summary>
    public static Tensor Generate(InputOp input, Random rng, double scale)
    {
        var shape = input.Shape;
        var facts = input.Facts;
        if (!input.Type.IsFloat())
        {
            var t = Tensor.Zeros(input.Type, shape);
            int classes = facts.Classes ?? 2;
            for (int i = 0; i < t.Size; i++) t.SetDouble(i, rng.Next(classes));
            return t;
        }
        if (facts.ProbsAxis is int axis) return Probabilities(input.Type, shape, shape.Axis(axis, "probs"), rng);
        var x = Tensor.RandomNormal(input.Type, shape, rng, scale);
        if (facts.IsPositive)
        {
            // At least 1e-6·scale, and never 0 (scale 0, or a floor below the element type's smallest normal number).
            double floor = Math.Max(1e-6 * Math.Abs(scale), input.Type == DType.F32 ? 1.17549435e-38 : 2.2250738585072014e-308);
            for (int i = 0; i < x.Size; i++) x.SetDouble(i, Math.Max(Math.Abs(x.GetDouble(i)), floor));
        }
        return x;
    }

    /// <summary>Non-negative values whose rows along <paramref name="axis"/> sum to 1.</summary>
    private static Tensor Probabilities(DType dtype, Shape shape, int axis, Random rng)
    {
        var v = new double[shape.Size];
        for (int i = 0; i < v.Length; i++) v[i] = rng.NextDouble() + 1e-3;
        int outer = shape.Product(0, axis), n = shape[axis], inner = shape.Product(axis + 1, shape.Rank);
        for (int o = 0; o < outer; o++)
            for (int k = 0; k < inner; k++)
            {
                int start = o * n * inner + k;
                double sum = 0;
                for (int j = 0; j < n; j++) sum += v[start + j * inner];
                for (int j = 0; j < n; j++) v[start + j * inner] /= sum;
            }
        return Tensor.FromDoubles(dtype, shape, v);
    }
}
