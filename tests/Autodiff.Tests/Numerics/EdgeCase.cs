using Autodiff.Rewrite;
using Autodiff.Text;

namespace Autodiff.Tests.Numerics;

/// <summary>Which graphs a row's expectation holds for.</summary>
public enum On
{
    /// <summary>The parsed graph and its simplified form.</summary>
    Both,
    /// <summary>Only the simplified graph (the naive spelling gives another, documented, result: <see cref="EdgeCase.NaiveValue"/>).</summary>
    Simplified,
}

/// <summary>One row of the edge-case table: a program in the expression language (declared in f64; the f32 run converts it
/// with <see cref="Graph.ToDType"/>), input values by name (labels as doubles), an optional cotangent (default: ones), and
/// either the expected value and gradients or a fragment of the expected error message.</summary>
public sealed record EdgeCase(string Name, string Program)
{
    public Dictionary<string, double[]> Inputs { get; init; } = [];

    /// <summary>The output cotangent; all ones when null.</summary>
    public double[]? Cotangent { get; init; }

    /// <summary>The expected output, flattened.</summary>
    public double[]? Value { get; init; }

    /// <summary>The expected gradients of the inputs named here (others are not checked).</summary>
    public Dictionary<string, double[]> Grads { get; init; } = [];

    /// <summary>A fragment the error message must contain; the row must then fail to parse or to run.</summary>
    public string? Error { get; init; }

    /// <summary>The graphs the expectation holds for.</summary>
    public On On { get; init; } = On.Both;

    /// <summary>For <see cref="On.Simplified"/> rows: what the naive graph gives instead (documents why fusing matters).</summary>
    public double[]? NaiveValue { get; init; }

    /// <summary>Only run in f64 (the row is about an f64-specific value, such as a mixed-type program).</summary>
    public bool F64Only { get; init; }

    public override string ToString() => Name;
}

/// <summary>Runs <see cref="EdgeCase"/> rows and compares: NaN must be NaN, infinities must be equal (same sign), finite
/// values must agree within <see cref="Tol"/> relative to max(1, |expected|); a ±0 expected is compared as a number.</summary>
public static class EdgeRunner
{
    public static double Tol(DType dt) => dt == DType.F32 ? 2e-5 : 1e-12;

    /// <summary>The graph of the row: parsed, converted to <paramref name="dt"/>, and simplified when asked.</summary>
    public static Graph Build(EdgeCase row, DType dt, bool simplified)
    {
        var g = Parser.Parse(row.Program);
        if (dt != DType.F64) g = g.ToDType(dt);
        return simplified ? Simplifier.Simplify(g).After : g;
    }

    public static Dictionary<string, Tensor> Inputs(EdgeCase row, Graph g) =>
        g.Inputs.ToDictionary(i => ((InputOp)i.Op).InputName, i => Tensor.FromDoubles(i.DType, i.Shape, row.Inputs[((InputOp)i.Op).InputName]));

    /// <summary>Forward and backward; the results are copied out of the tape.</summary>
    public static (double[] Value, Dictionary<string, double[]> Grads) Evaluate(EdgeCase row, Graph g)
    {
        var x = Inputs(row, g);
        var cot = Tensor.FromDoubles(g.Output.DType, g.Output.Shape, row.Cotangent ?? Enumerable.Repeat(1.0, g.Output.Shape.Size).ToArray());
        var (v, grads) = new Tape(g).Run(x, cot);
        return (v.ToDoubleArray(), grads.ToDictionary(kv => kv.Key, kv => kv.Value.ToDoubleArray()));
    }

    public static void Check(EdgeCase row, DType dt, bool simplified)
    {
        string where = $"{row.Name} ({dt.Name()}, {(simplified ? "simplified" : "naive")})";
        Graph g;
        (double[] Value, Dictionary<string, double[]> Grads) r;
        try
        {
            g = Build(row, dt, simplified);
            r = Evaluate(row, g);
        }
        catch (AutodiffException e) when (row.Error is not null)
        {
            Assert.True(e.Message.Contains(row.Error, StringComparison.Ordinal), $"{where}: expected an error containing '{row.Error}', got '{e.Message}'");
            return;
        }
        Assert.True(row.Error is null, $"{where}: expected an error containing '{row.Error}', but it ran");
        Assert.Equal(dt, g.Output.DType);
        double tol = Tol(dt);
        var expectValue = !simplified && row.On == On.Simplified ? row.NaiveValue : row.Value;
        if (expectValue is not null) AssertClose(expectValue, r.Value, tol, $"{where} value");
        if (!simplified && row.On == On.Simplified) return;
        foreach (var (name, want) in row.Grads) AssertClose(want, r.Grads[name], tol, $"{where} d/d{name}");
    }

    public static void AssertClose(double[] expected, double[] actual, double tol, string what)
    {
        Assert.True(expected.Length == actual.Length, $"{what}: expected {expected.Length} elements, got {actual.Length}");
        for (int i = 0; i < expected.Length; i++)
        {
            double e = expected[i], a = actual[i];
            bool ok = double.IsNaN(e) ? double.IsNaN(a)
                : double.IsInfinity(e) ? e == a
                : double.IsFinite(a) && Math.Abs(a - e) <= tol * Math.Max(1, Math.Abs(e));
            Assert.True(ok, $"{what}[{i}]: expected {e:R}, got {a:R} (tolerance {tol:G2}); all: [{string.Join(", ", actual.Select(v => v.ToString("R")))}]");
        }
    }
}
