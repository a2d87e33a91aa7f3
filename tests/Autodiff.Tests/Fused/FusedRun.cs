namespace Autodiff.Tests.Fused;

/// <summary>Runs cases through the tape and compares with tolerances.</summary>
internal static class FusedRun
{
    /// <summary>Relative tolerance of a value computed in <paramref name="dt"/> against a double oracle on the same inputs.</summary>
    public static double Tol(DType dt) => dt == DType.F32 ? 2e-5 : 1e-12;

    /// <summary>A fixed pseudo-random cotangent of <paramref name="s"/>, rounded to <paramref name="dt"/>.</summary>
    public static Tensor Cotangent(DType dt, Shape s, int seed = 7) => Tensor.RandomNormal(dt, s, new Random(seed));

    public static Dictionary<string, double[]> AsDoubles(IReadOnlyDictionary<string, Tensor> x) =>
        x.ToDictionary(kv => kv.Key, kv => kv.Value.ToDoubleArray());

    /// <summary>Forward and backward (with cotangent) of a graph; the result is copied out of the tape's buffers.</summary>
    public static (double[] Value, Dictionary<string, double[]> Grads) Run(Graph g, IReadOnlyDictionary<string, Tensor> x, string[] wrt, Tensor cot)
    {
        var (v, grads) = new Tape(g, wrt).Run(x, cot);
        return (v.ToDoubleArray(), grads.ToDictionary(kv => kv.Key, kv => kv.Value.ToDoubleArray()));
    }

    /// <summary>|actual − expected| ≤ tol·max(1, |expected|) elementwise; NaN must match NaN and infinities must be equal.</summary>
    public static void AssertClose(double[] expected, double[] actual, double tol, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
        {
            double e = expected[i], a = actual[i];
            bool ok = double.IsNaN(e) ? double.IsNaN(a)
                : double.IsInfinity(e) ? e == a
                : Math.Abs(a - e) <= tol * Math.Max(1, Math.Abs(e));
            Assert.True(ok, $"{what}[{i}]: expected {e:R}, got {a:R} (tolerance {tol:G2})");
        }
    }

    public static void AssertAllFinite(double[] values, string what)
    {
        for (int i = 0; i < values.Length; i++) Assert.True(double.IsFinite(values[i]), $"{what}[{i}] = {values[i]:R} is not finite");
    }

    /// <summary>Runs the fused case on the tape in <paramref name="dt"/> and checks value and gradients against the double
    /// oracle evaluated on the very same (rounded) inputs and cotangent.</summary>
    public static void AgainstOracle(FusedCase c, DType dt, double tol, int seed = 1)
    {
        var x = c.Values(dt, seed);
        var graph = c.Graph(dt);
        var cot = Cotangent(dt, graph.Output.Shape);
        var (value, grads) = Run(graph, x, c.Wrt, cot);
        var expected = c.Oracle(AsDoubles(x), cot.ToDoubleArray());
        AssertClose(expected.Value, value, tol, $"{c.Name} value");
        foreach (var name in c.Wrt) AssertClose(expected.Grads[name], grads[name], tol, $"{c.Name} d/d{name}");
    }
}
