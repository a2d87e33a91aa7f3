using MathNet.Numerics.Distributions;

namespace Autodiff.Tests.Structured;

/// <summary>Helpers of the Gumbel tests: running a graph without gradients, draws of many rows at once, exact
/// categorical probabilities and a chi-square goodness-of-fit p-value.</summary>
internal static class GumbelData
{
    /// <summary>The forward value of <paramref name="g"/> (copied out of the tape).</summary>
    public static Tensor Eval(Graph g, params (string Name, Tensor Value)[] inputs) =>
        new Tape(g, []).Forward(inputs.ToDictionary(p => p.Name, p => p.Value)).Clone();

    /// <summary>A vector input value of type <paramref name="dt"/>.</summary>
    public static Tensor Vector(DType dt, double[] v) => Tensor.FromDoubles(dt, new Shape(v.Length), v);

    /// <summary>Row-major (i64) values of an integer tensor.</summary>
    public static long[] Longs(Tensor t) => (long[])t.Data;

    /// <summary>softmax of <paramref name="logits"/> in double (max-shifted); exactly 0 for −inf.</summary>
    public static double[] Softmax(double[] logits)
    {
        double m = logits.Max();
        var e = logits.Select(x => Math.Exp(x - m)).ToArray();
        double s = e.Sum();
        return e.Select(x => x / s).ToArray();
    }

    /// <summary><paramref name="draws"/> categorical samples from the logits: gumbel_max(broadcast_to(z, [draws, n]), axis=1).</summary>
    public static long[] GumbelMaxDraws(double[] logits, DType dt, int draws, int seed)
    {
        var b = new GraphBuilder();
        var z = b.Input("z", dt, logits.Length);
        var g = b.Build(z.BroadcastTo(draws, logits.Length).GumbelMax(seed, axis: 1));
        return Longs(Eval(g, ("z", Vector(dt, logits))));
    }

    /// <summary>The p-value of Pearson's chi-square statistic of <paramref name="counts"/> against the probabilities
    /// <paramref name="p"/> (categories of probability 0 left out; df = their number − 1).</summary>
    public static double ChiSquarePValue(long[] counts, double[] p)
    {
        long n = counts.Sum();
        double stat = 0;
        int cells = 0;
        for (int i = 0; i < p.Length; i++)
        {
            if (p[i] == 0) continue;
            double e = n * p[i];
            stat += (counts[i] - e) * (counts[i] - e) / e;
            cells++;
        }
        return 1 - ChiSquared.CDF(cells - 1, stat);
    }

    /// <summary>Counts of each value in [0, n).</summary>
    public static long[] Histogram(IEnumerable<long> values, int n)
    {
        var c = new long[n];
        foreach (var v in values) c[v]++;
        return c;
    }
}
