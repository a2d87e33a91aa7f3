using Autodiff.Text;

namespace Autodiff.Tests.Numerics;

/// <summary>The stable elementary ops (log1p, expm1, log1mexp, logdiffexp, log1m_softmax) at the inputs where the naive
/// formula loses every digit, against closed forms and series evaluated where they are exact in double; and their edge
/// values (−inf, 0, the domain boundary).</summary>
public class StableElementaryTests
{
    private static double Eval(string program, params (string Name, double[] Values)[] inputs)
    {
        var g = Parser.Parse(program);
        var feed = inputs.ToDictionary(i => i.Name, i => Tensor.FromDoubles(DType.F64, new Shape(i.Values.Length), i.Values));
        return new Tape(g).Forward(feed).GetDouble(0);
    }

    private static double One(string f, double x) => Eval($"input x: f64[1]\ny = {f}(x)", ("x", [x]));

    private static void Close(double want, double got, double rel = 1e-12) =>
        Assert.True(Math.Abs(got - want) <= rel * Math.Abs(want), $"want {want:R}, got {got:R} (relative error {Math.Abs(got - want) / Math.Abs(want):E2})");

    /// <summary>Hard inputs with references from truncated series (the next term is below 1e-30 relative) or from closed
    /// forms without cancellation.</summary>
    public static TheoryData<string, double, double> Hard() => new()
    {
        { "log1p", 1e-10, 1e-10 - 5e-21 + 1e-30 / 3 },
        { "log1p", -1e-10, -1e-10 - 5e-21 - 1e-30 / 3 },
        { "expm1", 1e-10, 1e-10 + 5e-21 + 1e-30 / 6 },
        { "expm1", -1e-10, -1e-10 + 5e-21 - 1e-30 / 6 },
        // log(1 − e^−x) = log(x) + log(1 − x/2 + x²/6 − …) for x = 1e-10
        { "log1mexp", -1e-10, Math.Log(1e-10) - 5e-11 },
        { "log1mexp", -1e-300, Math.Log(1e-300) },
        { "log1mexp", -50, -Math.Exp(-50) },
        { "log1mexp", -1, Math.Log(1 - Math.Exp(-1)) },
    };

    [Theory, MemberData(nameof(Hard))]
    public void AccurateWhereTheNaiveFormLosesEveryDigit(string op, double x, double want) => Close(want, One(op, x));

    [Fact]
    public void NaiveFormsAreWrongAtTheseInputs()
    {
        // the reason the ops exist: the naive spellings keep at most 7 digits here
        Assert.True(Math.Abs(Math.Log(1 + 1e-10) - 1e-10) > 1e-18);
        Assert.True(Math.Abs(Math.Exp(1e-10) - 1 - 1e-10) > 1e-18);
        Assert.False(double.IsFinite(Math.Log(Math.Exp(1000) - Math.Exp(999))));
    }

    [Fact]
    public void LogDiffExpAtLargeArguments()
    {
        double got = Eval("input a: f64[1]\ninput b: f64[1]\ny = logdiffexp(a, b)", ("a", [1000]), ("b", [999]));
        Close(1000 + Math.Log(1 - Math.Exp(-1)), got);
        double tiny = Eval("input a: f64[1]\ninput b: f64[1]\ny = logdiffexp(a, b)", ("a", [0]), ("b", [-1e-10]));
        Close(Math.Log(1e-10) - 5e-11, tiny);
    }

    [Theory]
    [InlineData(3.0, double.NegativeInfinity, 3.0)]
    [InlineData(double.NegativeInfinity, double.NegativeInfinity, double.NegativeInfinity)]
    [InlineData(2.0, 2.0, double.NegativeInfinity)]
    [InlineData(double.PositiveInfinity, 5.0, double.PositiveInfinity)]
    public void LogDiffExpEdges(double a, double b, double want)
    {
        double got = Eval("input a: f64[1]\ninput b: f64[1]\ny = logdiffexp(a, b)", ("a", [a]), ("b", [b]));
        Assert.Equal(want, got);
    }

    [Fact]
    public void LogDiffExpOutsideItsDomainIsNaN()
    {
        Assert.True(double.IsNaN(Eval("input a: f64[1]\ninput b: f64[1]\ny = logdiffexp(a, b)", ("a", [1]), ("b", [2]))));
        Assert.True(double.IsNaN(One("log1mexp", 0.5)));
        Assert.True(double.IsNaN(One("log1p", -2)));
    }

    [Fact]
    public void LogDiffExpGradientWhenBIsMinusInfinity()
    {
        var g = Parser.Parse("input a: f64[2]\ninput b: f64[2]\ny = sum(logdiffexp(a, b))");
        var (_, grads) = new Tape(g).Run(new Dictionary<string, Tensor>
        {
            ["a"] = Tensor.FromDoubles(DType.F64, new Shape(2), [1, 5]),
            ["b"] = Tensor.FromDoubles(DType.F64, new Shape(2), [double.NegativeInfinity, 4]),
        });
        Assert.Equal(1, grads["a"].GetDouble(0));
        Assert.Equal(0, grads["b"].GetDouble(0));
        Close(1 / (1 - Math.Exp(-1)), grads["a"].GetDouble(1));
        Close(-1 / (Math.Exp(1) - 1), grads["b"].GetDouble(1));
    }

    [Theory]
    [InlineData("log1mexp", 0.0, double.NegativeInfinity)]
    [InlineData("log1mexp", double.NegativeInfinity, 0.0)]
    [InlineData("expm1", double.NegativeInfinity, -1.0)]
    [InlineData("expm1", 1000.0, double.PositiveInfinity)]
    [InlineData("log1p", -1.0, double.NegativeInfinity)]
    [InlineData("log1p", double.PositiveInfinity, double.PositiveInfinity)]
    public void Edges(string op, double x, double want) => Assert.Equal(want, One(op, x));

    [Fact]
    public void Log1mSoftmaxWhereTheSoftmaxRoundsToOne()
    {
        // log(1 − softmax([0, 1000, 1])) at the max entry is log(e^0 + e^1) − lse
        var g = Parser.Parse("input z: f64[1, 3]\ny = log1m_softmax(z, axis=1)");
        var z = Tensor.FromDoubles(DType.F64, new Shape(1, 3), [0, 1000, 1]);
        var (y, grads) = new Tape(g).Run(new Dictionary<string, Tensor> { ["z"] = z }, Tensor.FromDoubles(DType.F64, new Shape(1, 3), [0, 1, 0]));
        double lse = 1000 + Math.Log(1 + Math.Exp(-1000) + Math.Exp(-999));
        Close(Math.Log(1 + Math.E) - lse, y.GetDouble(1));
        Close(-Math.Exp(0 - lse), y.GetDouble(0), 1e-9);
        // d y_k / d z: q_l·r_k for l ≠ k, −q_k for k, with r_k = q_k / (1 − q_k)
        double qk = 1 / (1 + Math.Exp(-1000) + Math.Exp(-999)), others = 1 + Math.E;
        Close(-qk, grads["z"].GetDouble(1));
        Close(qk / others, grads["z"].GetDouble(0), 1e-9);
        Close(qk * Math.E / others, grads["z"].GetDouble(2), 1e-9);
    }

    [Fact]
    public void Log1mSoftmaxAllMinusInfinityRowIsZero()
    {
        var g = Parser.Parse("input z: f64[2, 2]\ny = log1m_softmax(z, axis=1)");
        var z = Tensor.FromDoubles(DType.F64, new Shape(2, 2), [double.NegativeInfinity, double.NegativeInfinity, 0, double.NegativeInfinity]);
        var (y, grads) = new Tape(g).Run(new Dictionary<string, Tensor> { ["z"] = z }, Tensor.FromDoubles(DType.F64, new Shape(2, 2), [1, 1, 1, 1]));
        Assert.Equal([0, 0, double.NegativeInfinity, 0], Enumerable.Range(0, 4).Select(y.GetDouble));
        Assert.Equal(0, grads["z"].GetDouble(0));
        Assert.Equal(0, grads["z"].GetDouble(3));
    }
}
