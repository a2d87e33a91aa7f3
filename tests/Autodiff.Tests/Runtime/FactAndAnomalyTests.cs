using Autodiff.Rewrite;
using Autodiff.Text;

namespace Autodiff.Tests.Runtime;

/// <summary>The tape checks declared facts before computing (on by default, with an opt-out) and, when asked, names the
/// first node that went non-finite (off by default).</summary>
public class FactAndAnomalyTests
{
    private static Dictionary<string, Tensor> X(params (string Name, Tensor Value)[] xs) => xs.ToDictionary(x => x.Name, x => x.Value);

    public static TheoryData<string, string, double[], string> Violations() => new()
    {
        { "input y: f64[2, 3] probs(axis=1)\nr = sum(y)", "y", [0.5, 0.5, 0.5, -1, 2, 0], "input 'y' is declared probs(axis=1), but row 0 sums to 1.5 (allowed: 1 ± 1e-09)" },
        { "input y: f64[2, 3] probs(axis=1)\nr = sum(y)", "y", [0.2, 0.3, 0.5, -1, 2, 0], "input 'y' is declared probs(axis=1), but y[1, 0] = -1 is negative" },
        { "input y: f32[2, 2, 2] probs(axis=1)\nr = sum(y)", "y", [0.5, 0.5, 0.5, 0.5, 1, 0.25, 0, 0.25], "input 'y' is declared probs(axis=1), but row [1, :, 1] sums to 0.5 (allowed: 1 ± 1e-04)" },
        { "input y: f32[3] probs(axis=0)\nr = sum(y)", "y", [0.25, 0.25, 0.25], "input 'y' is declared probs(axis=0), but the vector sums to 0.75 (allowed: 1 ± 1e-04)" },
        { "input x: f64[3] positive\nr = exp(sum(log(x)))", "x", [-1, 2, 3], "input 'x' is declared positive, but x[0] = -1 is not > 0" },
        { "input x: f32[2] positive\nr = sum(x)", "x", [1, double.NaN], "input 'x' is declared positive, but x[1] = nan is not > 0" },
    };

    [Theory]
    [MemberData(nameof(Violations))]
    public void AViolatedFactThrowsBeforeAnyValueOrGradient(string program, string input, double[] values, string message)
    {
        var g = Parser.Parse(program);
        var node = g.Input(input);
        var x = X((input, Tensor.FromDoubles(node.DType, node.Shape, values)));
        foreach (var graph in new[] { g, Simplifier.Simplify(g).After })
        {
            var tape = new Tape(graph);
            var e = Assert.Throws<InputFactException>(() => tape.Run(x));
            Assert.Equal(message, e.Message);
            Assert.Equal(input, e.Input);
            Assert.Throws<InvalidOperationException>(() => tape.Value);
            Assert.Throws<InputFactException>(() => new Tape(graph).Forward(x));
        }
    }

    [Fact]
    public void ClassesAreCheckedToo()
    {
        var g = Parser.Parse("input z: f32[2, 3]\ninput t: i64[2] classes(3)\nr = sum(sparse_softmax_cross_entropy(z, t))");
        var x = X(("z", Tensor.Zeros(DType.F32, new Shape(2, 3))), ("t", Tensor.FromArray(new long[] { 0, 3 }, 2)));
        var e = Assert.Throws<InputFactException>(() => new Tape(g).Run(x));
        Assert.Equal("input 't' is declared classes(3), but t[1] = 3 is not a class index in [0, 3)", e.Message);
        Assert.Equal("classes(3)", e.Fact);
        Assert.Equal("[1]", e.Location);
    }

    [Fact]
    public void TheOptOutComputesWhatTheRewriteComputes()
    {
        // exp(sum(log(x))) is NaN at x = [-1, 2, 3] as written; the simplifier, trusting 'positive', made it prod = -6.
        var g = Parser.Parse("input x: f64[3] positive\nr = exp(sum(log(x)))");
        var simplified = Simplifier.Simplify(g).After;
        var x = X(("x", Tensor.FromArray(new[] { -1.0, 2, 3 }, 3)));
        Assert.Throws<InputFactException>(() => new Tape(simplified).Run(x));
        var (v, _) = new Tape(simplified) { CheckFacts = false }.Run(x);
        Assert.Equal(-6, v.GetDouble(0), 12);
    }

    [Fact]
    public void ValidValuesPassInBothTypes()
    {
        foreach (var dt in new[] { DType.F32, DType.F64 })
        {
            var g = Parser.Parse($"input y: {dt.Name()}[3, 4] probs(axis=1)\ninput x: {dt.Name()}[2] positive\nr = sum(y) + sum(x)");
            var rng = new Random(1);
            var rows = new double[12];
            for (int r = 0; r < 3; r++)
            {
                double s = 0;
                for (int c = 0; c < 4; c++) s += rows[r * 4 + c] = rng.NextDouble();
                for (int c = 0; c < 4; c++) rows[r * 4 + c] /= s;
            }
            var x = X(("y", Tensor.FromDoubles(dt, new Shape(3, 4), rows)), ("x", Tensor.FromDoubles(dt, new Shape(2), [1e-30, 5])));
            new Tape(g).Run(x);
        }
        // Zero-size batches and empty class axes have nothing to check.
        var empty = Parser.Parse("input y: f32[0, 3] probs(axis=1)\ninput w: f32[2, 0] probs(axis=1)\nr = sum(y) + sum(w)");
        new Tape(empty).Run(X(("y", Tensor.Zeros(DType.F32, new Shape(0, 3))), ("w", Tensor.Zeros(DType.F32, new Shape(2, 0)))));
    }

    [Theory]
    [InlineData("input x: f64[3]\nr = sum(log(x))", new[] { 1.0, 0, 2 }, "log", 2, 9, "forward")]
    [InlineData("input x: f64[2]\ne = exp(x)\nr = sum(e / sum(e))", new[] { 1000.0, 1 }, "exp", 2, 5, "forward")]
    [InlineData("input x: f64[2]\nr = sum(sqrt(x))", new[] { 0.0, 1 }, "sqrt", 2, 9, "backward")]
    public void TheFirstNonFiniteNodeIsNamedWithItsPosition(string program, double[] values, string op, int line, int column, string pass)
    {
        var g = Parser.Parse(program);
        var x = X(("x", Tensor.FromArray(values, values.Length)));
        var tape = new Tape(g) { DetectNonFinite = NonFiniteCheck.Report };
        tape.Run(x);
        var l = tape.FirstNonFinite!;
        Assert.Equal((op, line, column, pass), (l.Op, l.Line!.Value, l.Column!.Value, l.Pass));
        var e = Assert.Throws<NonFiniteException>(() => new Tape(g) { DetectNonFinite = NonFiniteCheck.Throw }.Run(x));
        Assert.Equal(l with { Node = e.Location.Node }, e.Location);
        Assert.Contains($"{op} at line {line}, column {column}", e.Message);
        // Off by default: nothing is recorded, and Run is unchanged.
        var plain = new Tape(g);
        plain.Run(x);
        Assert.Null(plain.FirstNonFinite);
    }

    [Fact]
    public void AFusedNodeCarriesThePositionOfWhatItReplaced()
    {
        // At logits of 1e5 the naive softmax overflows; the simplified softmax is finite, and a NaN target poisons it,
        // which the check reports at the fused node, on the line of the expression it replaced.
        var g = Parser.Parse("input z: f64[1, 2]\ninput p: f64[1, 2]\ne = exp(z)\nq = e / sum(e, axis=1, keepdims=true)\nr = -sum(p * log(q))");
        var simplified = Simplifier.Simplify(g).After;
        var x = X(("z", Tensor.FromArray(new[] { 1e5, 0 }, 1, 2)), ("p", Tensor.FromArray(new[] { 0.5, 0.5 }, 1, 2)));
        var naive = new Tape(g) { DetectNonFinite = NonFiniteCheck.Report };
        naive.Run(x);
        Assert.Equal(("exp", 3), (naive.FirstNonFinite!.Op, naive.FirstNonFinite.Line!.Value));
        var fixedTape = new Tape(simplified) { DetectNonFinite = NonFiniteCheck.Report };
        fixedTape.Run(x);
        Assert.Null(fixedTape.FirstNonFinite);
        foreach (var n in simplified.Nodes().Where(n => n.Op.IsFused))
            Assert.NotNull(n.Builder.PositionOf(n));
    }

    [Fact]
    public void GraphsBuiltInCSharpHaveNoPosition()
    {
        var b = new GraphBuilder();
        var g = b.Build(b.Input("x", DType.F64, 2).Log().Sum());
        var tape = new Tape(g) { DetectNonFinite = NonFiniteCheck.Report };
        tape.Run(X(("x", Tensor.FromArray(new[] { 0.0, 1 }, 2))));
        Assert.Equal("log", tape.FirstNonFinite!.Op);
        Assert.Null(tape.FirstNonFinite.Line);
    }
}
