using Autodiff.Tests.Fused;

namespace Autodiff.Tests.Numerics;

/// <summary>No fused op returns NaN or infinity from finite inputs where the mathematical result is finite: every small
/// case of <see cref="FusedCatalog"/> (softmax, log_softmax, logsumexp, both cross-entropies with smoothing, weights and
/// ignored rows, logaddexp, over every axis) with its logits scaled to 1e6, 1e15 and 1e30 in float32 and up to 1e300 in
/// float64, against the case's max-shifted double oracle on the same inputs; and the elementwise fused ops (softplus,
/// log_sigmoid) and pnorm at the same scales.</summary>
public class FusedExtremeScaleTests
{
    private static readonly string[] Logits = ["x", "z", "a", "b"];

    public static TheoryData<string, DType, double> Data()
    {
        var d = new TheoryData<string, DType, double>();
        foreach (var c in FusedCatalog.Small)
        {
            foreach (var s in new[] { 1e6, 1e15, 1e30 }) d.Add(c.Name, DType.F32, s);
            foreach (var s in new[] { 1e6, 1e30, 1e100, 1e300 }) d.Add(c.Name, DType.F64, s);
        }
        return d;
    }

    [Theory]
    [MemberData(nameof(Data))]
    public void FiniteAndExactAtExtremeScales(string name, DType dt, double scale)
    {
        var c = FusedCatalog.Get(name);
        var x = c.Values(DType.F64, seed: 5).ToDictionary(kv => kv.Key,
            kv => Logits.Contains(kv.Key) ? Tensor.FromDoubles(dt, kv.Value.Shape, kv.Value.ToDoubleArray().Select(v => v * scale).ToArray())
                : kv.Value.DType.IsFloat() ? kv.Value.Cast(dt) : kv.Value);
        var graph = c.Graph(dt);
        var cot = FusedRun.Cotangent(dt, graph.Output.Shape);
        var (value, grads) = FusedRun.Run(graph, x, c.Wrt, cot);
        var expected = c.Oracle(FusedRun.AsDoubles(x), cot.ToDoubleArray());
        double tol = dt == DType.F32 ? 2e-5 : 1e-12;
        FusedRun.AssertAllFinite(value, $"{name} value");
        FusedRun.AssertClose(expected.Value, value, tol, $"{name} value");
        foreach (var w in c.Wrt)
        {
            FusedRun.AssertAllFinite(grads[w], $"{name} d/d{w}");
            FusedRun.AssertClose(expected.Grads[w], grads[w], tol, $"{name} d/d{w}");
        }
    }

    public static TheoryData<DType, double> Scales()
    {
        var d = new TheoryData<DType, double>();
        foreach (var s in new[] { 1e6, 1e15, 1e30 }) d.Add(DType.F32, s);
        foreach (var s in new[] { 1e6, 1e30, 1e100, 1e300 }) d.Add(DType.F64, s);
        return d;
    }

    [Theory]
    [MemberData(nameof(Scales))]
    public void ElementwiseFusedOpsAndNormsAreFiniteAtExtremeScales(DType dt, double scale)
    {
        double[] x = [1, -1, 0.5, -2, 3, -0.25];
        var b = new GraphBuilder();
        var v = b.Input("x", dt, 2, 3);
        var cases = new (string Name, Expr Y, Func<double, double> F, Func<double, double> D)[]
        {
            ("softplus", v.Softplus(), t => Math.Max(t, 0) + Math.Log(1 + Math.Exp(-Math.Abs(t))), t => 1 / (1 + Math.Exp(-t))),
            ("log_sigmoid", v.LogSigmoid(), t => Math.Min(t, 0) - Math.Log(1 + Math.Exp(-Math.Abs(t))), t => 1 / (1 + Math.Exp(t))),
        };
        var input = new Dictionary<string, Tensor> { ["x"] = Tensor.FromDoubles(dt, new Shape(2, 3), x.Select(t => t * scale).ToArray()) };
        var xs = input["x"].ToDoubleArray();
        double tol = dt == DType.F32 ? 2e-5 : 1e-12;
        foreach (var (name, y, f, d) in cases)
        {
            var (value, grads) = new Tape(b.Build(y)).Run(input, Tensor.Full(dt, new Shape(2, 3), 1));
            EdgeRunner.AssertClose(xs.Select(f).ToArray(), value.ToDoubleArray(), tol, $"{name} at {scale:G}");
            EdgeRunner.AssertClose(xs.Select(d).ToArray(), grads["x"].ToDoubleArray(), tol, $"d {name} at {scale:G}");
        }
        foreach (var p in new[] { 1.0, 2, 3, double.PositiveInfinity })
        {
            var (value, grads) = new Tape(b.Build(v.PNorm(p, 1))).Run(input, Tensor.Full(dt, new Shape(2), 1));
            for (int r = 0; r < 2; r++)
            {
                var row = xs.Skip(3 * r).Take(3).ToArray();
                double a = row.Max(Math.Abs);
                double n = double.IsPositiveInfinity(p) ? a : a * Math.Pow(row.Sum(t => Math.Pow(Math.Abs(t) / a, p)), 1 / p);
                EdgeRunner.AssertClose([n], [value.GetDouble(r)], tol, $"pnorm p={p} at {scale:G}");
                int ties = row.Count(t => Math.Abs(t) == a);   // p = inf shares the gradient among the entries attaining the max
                var want = row.Select(t => double.IsPositiveInfinity(p) ? (Math.Abs(t) == a ? Math.Sign(t) / (double)ties : 0) : Math.Sign(t) * Math.Pow(Math.Abs(t) / n, p - 1)).ToArray();
                EdgeRunner.AssertClose(want, grads["x"].ToDoubleArray().Skip(3 * r).Take(3).ToArray(), tol, $"d pnorm p={p} at {scale:G}");
            }
        }
    }
}
