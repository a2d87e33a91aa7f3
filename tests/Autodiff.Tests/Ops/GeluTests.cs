using Autodiff.Tests.Kernels;
using Autodiff.Text;

namespace Autodiff.Tests.Ops;

/// <summary>gelu on the tape against x·Φ(x) from the erf oracle (<see cref="ErfTests"/>), including the lower tail
/// where x·(1 + erf(x/√2))/2 rounds to 0; the tanh approximation against its formula; the language and the printer.</summary>
public class GeluTests
{
    private static double Phi(double x)
    {
        double z = x / Math.Sqrt(2);
        return z < -2.5 ? ErfTests.PhiTail(x) : z > 2.5 ? 1 - ErfTests.ErfcFraction(z) / 2 : (double)(0.5m + ErfTests.ErfSeries(z) / 2);
    }

    private static double[] Eval(string program, double[] xs)
    {
        var g = Parser.Parse(program);
        return new Tape(g, []).Forward(new Dictionary<string, Tensor> { ["x"] = Tensor.FromArray(xs, xs.Length) }).ToDoubleArray();
    }

    [Fact]
    public void ExactGeluIsXTimesPhiDownTheLowerTail()
    {
        var xs = Enumerable.Range(0, 381).Select(i => -30 + i * 0.1).ToArray();
        var y = Eval($"input x: f64[{xs.Length}]\ny = gelu(x)", xs);
        for (int i = 0; i < xs.Length; i++)
        {
            double want = xs[i] * Phi(xs[i]);
            // the oracle's own error: the rounding of x/√2 moves Φ by about x²·2⁻⁵³ relative (the tail oracle avoids it)
            Assert.True(Math.Abs(y[i] - want) <= (2e-15 + 2e-16 * xs[i] * xs[i]) * Math.Abs(want), $"gelu({xs[i]}) = {y[i]:R}, want {want:R}");
        }
        Assert.True(y[200] < 0 && y[200] > -1e-22, $"gelu(-10) = {y[200]:R}");   // −7.62e-23, not 0
    }

    [Fact]
    public void ApproximateGeluIsTheTanhFormula()
    {
        var xs = Enumerable.Range(0, 81).Select(i => -2 + i * 0.1).ToArray();   // below −2 the formula itself cancels
        var y = Eval($"input x: f64[{xs.Length}]\ny = gelu(x, approximate=true)", xs);
        for (int i = 0; i < xs.Length; i++)
        {
            double x = xs[i], want = 0.5 * x * (1 + Math.Tanh(Math.Sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)));
            Assert.True(Math.Abs(y[i] - want) <= 1e-15 + 1e-13 * Math.Abs(want), $"gelu({x}, approximate) = {y[i]:R}, want {want:R}");
        }
    }

    [Fact]
    public void PrintsAndParsesBack()
    {
        foreach (var call in new[] { "gelu(x)", "gelu(x, approximate=true)", "erf(x)" })
        {
            var g = Parser.Parse($"input x: f32[3]\ny = {call}");
            Assert.Equal($"input x: f32[3]\ny = {call}\noutput y", Printer.Print(g));
        }
    }
}
