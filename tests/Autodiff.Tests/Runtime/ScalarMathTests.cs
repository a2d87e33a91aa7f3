namespace Autodiff.Tests.Runtime;

/// <summary>log1p and expm1 against exact values near 0, where .NET's LogP1/ExpM1 (log(1 + x), exp(x) − 1) lose all accuracy,
/// and the ops that use them.</summary>
public class ScalarMathTests
{
    [Theory]
    [InlineData(1e-10)]
    [InlineData(-1e-10)]
    [InlineData(1e-300)]
    [InlineData(3e-8)]
    [InlineData(0.5)]
    [InlineData(-0.5)]
    [InlineData(100)]
    public void Log1pAndExpm1AreAccurate(double x)
    {
        // Taylor series to many terms is exact to double precision for |x| <= 0.5; elsewhere log(1 + x) and exp(x) - 1 are fine.
        double log1p = Math.Abs(x) <= 0.5 ? Enumerable.Range(1, 60).Sum(k => (k % 2 == 1 ? 1 : -1) * Math.Pow(x, k) / k) : Math.Log(1 + x);
        double expm1 = Math.Abs(x) <= 0.5 ? Enumerable.Range(1, 30).Aggregate((Sum: 0.0, Term: 1.0), (a, k) => (a.Sum + a.Term * x / k, a.Term * x / k)).Sum : Math.Exp(x) - 1;
        Assert.True(Math.Abs(ScalarMath.Log1p(x) - log1p) <= 1e-15 * Math.Abs(log1p), $"log1p({x}) = {ScalarMath.Log1p(x):R}, want {log1p:R}");
        Assert.True(Math.Abs(ScalarMath.Expm1(x) - expm1) <= 1e-15 * Math.Abs(expm1), $"expm1({x}) = {ScalarMath.Expm1(x):R}, want {expm1:R}");
        Assert.True(Math.Abs(ScalarMath.Log1p((float)x) - log1p) <= 4e-7 * Math.Abs(log1p) || Math.Abs(x) < 1e-38);
    }

    [Fact]
    public void SoftplusKeepsRelativeAccuracyInTheTail()
    {
        var b = new GraphBuilder();
        var x = b.Input("x", DType.F64, 2);
        var tape = new Tape(b.Build(x.Softplus()), []);
        var v = tape.Forward(new Dictionary<string, Tensor> { ["x"] = Tensor.FromArray(new[] { -40.0, -700.0 }, 2) });
        Assert.Equal(Math.Exp(-40), v.GetDouble(0), Math.Exp(-40) * 1e-15);   // log(1 + e^-40) = e^-40 (1 - e^-40/2 ...)
        Assert.Equal(Math.Exp(-700), v.GetDouble(1), Math.Exp(-700) * 1e-15);
    }
}
