namespace Autodiff.Tests.Fused;

/// <summary>Table-driven checks of every fused op (see <see cref="FusedCatalog"/>) in f32 and f64: finite differences,
/// the double oracle, the naive composite graph, float against double, and the symbolic gradient against the tape.</summary>
public class FusedOpTests
{
    public static TheoryData<string, DType> Small => FusedCatalog.SmallData();

    public static TheoryData<string, DType> Large => FusedCatalog.LargeData();

    [Theory]
    [MemberData(nameof(Small))]
    public void GradientMatchesFiniteDifferences(string name, DType dt)
    {
        var c = FusedCatalog.Get(name);
        var result = GradientChecker.Check(c.Graph(dt), c.Values(dt), c.Wrt, new GradCheckOptions(Atol: 1e-5, Rtol: 1e-3));
        Assert.True(result.Passed, result.ToString());
        Assert.True(result.Checked > 0);
    }

    [Theory]
    [MemberData(nameof(Small))]
    public void ValueAndGradientMatchDoubleOracle(string name, DType dt) =>
        FusedRun.AgainstOracle(FusedCatalog.Get(name), dt, FusedRun.Tol(dt));

    [Theory]
    [MemberData(nameof(Large))]
    public void LargeParallelAndPackedRowsMatchDoubleOracle(string name, DType dt) =>
        FusedRun.AgainstOracle(FusedCatalog.Get(name), dt, FusedRun.Tol(dt));

    [Theory]
    [MemberData(nameof(Small))]
    public void MatchesNaiveCompositeGraph(string name, DType dt)
    {
        var c = FusedCatalog.Get(name);
        var x = c.Values(dt);
        var fused = c.Graph(dt);
        var naive = c.Graph(dt, naive: true);
        Assert.Equal(naive.Output.Shape, fused.Output.Shape);
        Assert.True(fused.Output.Op.IsFused);
        Assert.DoesNotContain(naive.Nodes(), n => n.Op.IsFused);
        var cot = FusedRun.Cotangent(dt, fused.Output.Shape);
        var (fv, fg) = FusedRun.Run(fused, x, c.Wrt, cot);
        var (nv, ng) = FusedRun.Run(naive, x, c.Wrt, cot);
        double tol = dt == DType.F32 ? 1e-4 : 1e-10;
        FusedRun.AssertClose(nv, fv, tol, $"{name} value");
        foreach (var w in c.Wrt) FusedRun.AssertClose(ng[w], fg[w], tol, $"{name} d/d{w}");
    }

    [Theory]
    [MemberData(nameof(Small))]
    public void FloatPathMatchesDoublePath(string name, DType dt)
    {
        var c = FusedCatalog.Get(name);
        double diff = GradientChecker.CompareFloatToDouble(c.Graph(dt), c.Values(dt), c.Wrt);
        Assert.True(diff < 1e-5, $"{name}: float32 differs from float64 by {diff:G3} (relative)");
    }

    [Theory]
    [MemberData(nameof(Small))]
    public void SymbolicGradientAgreesWithTape(string name, DType dt)
    {
        var c = FusedCatalog.Get(name);
        var b = new GraphBuilder();
        var ins = c.Declare(b, dt);
        var y = c.Fused(ins);
        var cot = b.Input("cot", dt, y.Shape);
        var graph = b.Build((y * cot).Sum());
        var x = c.Values(dt);
        x["cot"] = FusedRun.Cotangent(dt, y.Shape);
        var (_, tape) = new Tape(graph, c.Wrt).Run(x);
        var symbolic = SymbolicGradient.Of(graph, c.Wrt);
        foreach (var w in c.Wrt)
        {
            Assert.Equal(ins[w].Shape, symbolic[w].Shape);
            var v = new Tape(graph.WithOutput(symbolic[w].Node), []).Forward(x);
            FusedRun.AssertClose(tape[w].ToDoubleArray(), v.ToDoubleArray(), dt == DType.F32 ? 1e-5 : 1e-12, $"{name} symbolic d/d{w}");
        }
    }

    [Theory]
    [MemberData(nameof(Small))]
    public void RepeatedRunsOnOneTapeGiveTheSameResult(string name, DType dt)
    {
        var c = FusedCatalog.Get(name);
        var graph = c.Graph(dt);
        var tape = new Tape(graph, c.Wrt);
        var cot = FusedRun.Cotangent(dt, graph.Output.Shape);
        var first = c.Values(dt, seed: 1);
        var (v1, g1) = tape.Run(first, cot);
        var value = v1.ToDoubleArray();
        var grads = g1.ToDictionary(kv => kv.Key, kv => kv.Value.ToDoubleArray());
        tape.Run(c.Values(dt, seed: 2), cot);
        var (v3, g3) = tape.Run(first, cot);
        Assert.Equal(value, v3.ToDoubleArray());
        foreach (var w in c.Wrt) Assert.Equal(grads[w], g3[w].ToDoubleArray());
    }
}
