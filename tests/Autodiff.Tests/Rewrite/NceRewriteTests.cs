using Autodiff.Rewrite;
using Autodiff.Text;

namespace Autodiff.Tests.Rewrite;

/// <summary>A hand-written NCE objective, −log σ(s⁺ − log k·q⁺) − Σ log(1 − σ(s⁻ − log k·q⁻)), in the spellings the
/// simplifier knows for sigmoid cross-entropy (σ written out, 1 − σ, the seed's ratio u/(u + k·q)), ends in the stable
/// form (log_sigmoid only: no sigmoid, no ratio of exponentials, no log(1 − ·)), agrees with the naive graph at scale 1
/// and stays finite where the naive graph is not; a near miss names what blocks the seed's spelling.</summary>
public class NceRewriteTests
{
    private const string Head = "input sp: f64[4]\ninput sn: f64[4, 6]\ninput qp: f64[4] positive\ninput qn: f64[6] positive\n";

    public static TheoryData<string, string> Spellings() => new()
    {
        { "sigmoid", "r = -sum(log(sigmoid(sp - log(6 * qp)))) - sum(log(1 - sigmoid(sn - log(6 * qn))))" },
        { "sigmoid written out", "r = -sum(log(1 / (1 + exp(-(sp - log(6 * qp)))))) - sum(log(1 - 1 / (1 + exp(-(sn - log(6 * qn))))))" },
        { "the seed's ratio", "r = -sum(log(exp(sp) / (exp(sp) + 6 * qp))) - sum(log(6 * qn / (exp(sn) + 6 * qn)))" },
        { "ratio, sum reversed", "r = -sum(log(exp(sp) / (6 * qp + exp(sp)))) - sum(log(6 * qn / (6 * qn + exp(sn))))" },
        { "negative sampling", "r = -sum(log(sigmoid(sp))) - sum(log(sigmoid(-sn)))" },
    };

    private static Dictionary<string, Tensor> Inputs(double scale)
    {
        var rng = new Random(3);
        Tensor R(int[] shape, double lo, double hi) => Tensor.FromDoubles(DType.F64, new Shape(shape),
            [.. Enumerable.Range(0, shape.Aggregate(1, (a, b) => a * b)).Select(_ => lo + rng.NextDouble() * (hi - lo))]);
        return new()
        {
            ["sp"] = R([4], -scale, scale), ["sn"] = R([4, 6], -scale, scale),
            ["qp"] = R([4], 0.01, 0.2), ["qn"] = R([6], 0.01, 0.2),
        };
    }

    [Theory, MemberData(nameof(Spellings))]
    public void TheObjectiveGetsTheStableForm(string name, string program)
    {
        var naive = Parser.Parse(Head + program);
        var r = Simplifier.Simplify(naive);
        string after = Printer.Print(r.After);
        Assert.DoesNotContain(" sigmoid(", " " + after.Replace("log_sigmoid(", "LS("));
        Assert.DoesNotContain("exp(", after);
        Assert.DoesNotContain("log(1 -", after);
        Assert.Contains("log_sigmoid(", after);

        var small = Inputs(1);
        var (v0, g0) = new Tape(naive).Run(small);
        var (v1, g1) = new Tape(r.After).Run(small);
        Assert.Equal(v0.GetDouble(0), v1.GetDouble(0), 10);
        foreach (var input in new[] { "sp", "sn" })
            Assert.Equal(g0[input].ToDoubleArray(), g1[input].ToDoubleArray(), new Structured.ToleranceComparer(1e-10));

        var large = Inputs(1000);
        var (v2, g2) = new Tape(r.After).Run(large);
        Assert.True(double.IsFinite(v2.GetDouble(0)), $"{name}: {v2}");
        Assert.All(g2["sp"].ToDoubleArray().Concat(g2["sn"].ToDoubleArray()), q => Assert.True(double.IsFinite(q), name));
        if (name != "negative sampling")
        {
            var (naiveValue, _) = new Tape(naive).Run(large);
            Assert.False(double.IsFinite(naiveValue.GetDouble(0)), $"{name}: the naive graph should overflow at scale 1000");
        }
    }

    [Fact]
    public void TheSeedsRatioWithoutAPositiveNoiseTermIsANearMiss()
    {
        var r = Simplifier.Simplify(Parser.Parse("input s: f64[4, 6]\ninput q: f64[6]\nr = -sum(log(exp(s) / (exp(s) + 6 * q)))"));
        var miss = Assert.Single(r.NearMisses, m => m.Rule == "nce-posterior");
        Assert.Contains("6 * q is not known to be > 0", miss.Reason);
        Assert.Contains("exp(s)", Printer.Print(r.After));
    }
}
