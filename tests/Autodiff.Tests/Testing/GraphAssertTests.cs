using Autodiff.Rewrite;
using Autodiff.Testing;
using Autodiff.Tests.Interop;
using Autodiff.Text;

namespace Autodiff.Tests.Testing;

/// <summary><see cref="GraphAssert"/> in xunit: each assertion passes on a graph that satisfies it and fails, with a
/// message that shows why, on one that does not (the NUnit project runs the same kinds of checks under NUnit).</summary>
public class GraphAssertTests
{
    private static SimplifyResult Simplified(string sample) => Simplifier.Simplify(Parser.Parse(OnnxRun.Sample(sample)));

    private const string FusedCe = """
        input z: f32[64, 10]
        input y: f32[64, 10] probs(axis=1)
        input t: i64[64] classes(10)
        loss = mean(softmax_cross_entropy(z, y, axis=1, normalized=true))
        output loss
        """;

    [Fact]
    public void SimplifiesToComparesTheProgramAndShowsADiff()
    {
        var r = Simplified("softmax_ce_probs");
        GraphAssert.SimplifiesTo(r, FusedCe);
        GraphAssert.SimplifiesTo(r, FusedCe.ReplaceLineEndings("\r\n") + "\r\n");
        var e = Assert.Throws<GraphAssertionException>(() => GraphAssert.SimplifiesTo(r, FusedCe.Replace("normalized=true", "normalized=false")));
        Assert.Equal("""
            --- expected
            +++ simplified
            @@ -1,5 +1,5 @@
             input z: f32[64, 10]
             input y: f32[64, 10] probs(axis=1)
             input t: i64[64] classes(10)
            -loss = mean(softmax_cross_entropy(z, y, axis=1, normalized=false))
            +loss = mean(softmax_cross_entropy(z, y, axis=1, normalized=true))
             output loss

            """.ReplaceLineEndings("\n"), e.Diff);
        Assert.StartsWith("the simplified program differs from the expected text", e.Message);
    }

    [Fact]
    public void HasFusedOpListsWhatIsThereAndTheNearMisses()
    {
        GraphAssert.HasFusedOp(Simplified("softmax_ce_probs"), "softmax_cross_entropy");
        var r = Simplified("near_miss_axis");
        GraphAssert.HasFusedOp(r, "log_softmax");
        var e = Assert.Throws<GraphAssertionException>(() => GraphAssert.HasFusedOp(r, "softmax_cross_entropy"));
        Assert.Contains("its fused ops are: log_softmax", e.Message);
        Assert.Contains("softmax-cross-entropy at sum(y * log_softmax(z, axis=1), axis=0): the sum runs over axis 0", e.Message);
        Assert.Contains("loss = -mean(sum(y * log_softmax(z, axis=1), axis=0))", e.Message);
    }

    [Fact]
    public void NoNearMissesListsThem()
    {
        GraphAssert.NoNearMisses(Simplified("softmax_ce_probs"));
        var e = Assert.Throws<GraphAssertionException>(() => GraphAssert.NoNearMisses(Simplified("near_miss_axis")));
        Assert.StartsWith("expected no near misses, found 1:\nsoftmax-cross-entropy at ", e.Message);
    }

    [Fact]
    public void NaiveAndSimplifiedAgreeOnGeneratedAndGivenInputs()
    {
        var r = Simplified("softmax_ce_probs");
        GraphAssert.NaiveAndSimplifiedAgree(r);
        GraphAssert.NaiveAndSimplifiedAgree(r, seed: 7, scale: 3);
        var z = Tensor.RandomNormal(DType.F32, new Shape(64, 10), new Random(1), 2);
        GraphAssert.NaiveAndSimplifiedAgree(r, new Dictionary<string, Tensor> { ["z"] = z });

        // At scale 1000 the naive graph overflows and the fused one does not: that is a disagreement, said as such.
        var e = Assert.Throws<GraphAssertionException>(() => GraphAssert.NaiveAndSimplifiedAgree(r, scale: 1000));
        Assert.Contains("inputs generated (seed 0, scale 1000)", e.Message);
        Assert.Contains("gradients  disagree: ", e.Message);
        Assert.Contains("non-finite only in the actual", e.Message);   // the naive graph (the simplified one is the reference)
    }

    [Fact]
    public void NaiveAndSimplifiedAgreeCatchesAWrongRewrite()
    {
        // A "simplification" that changes the value: log_softmax along the wrong axis.
        var naive = Parser.Parse("input z: f64[3, 4]\nloss = sum(log(exp(z) / sum(exp(z), axis=1, keepdims=true)))");
        var wrong = Parser.Parse("input z: f64[3, 4]\nloss = sum(log_softmax(z, axis=0))");
        var r = new SimplifyResult(naive, wrong, [], [], StopReason.Saturated, 1);
        var e = Assert.Throws<GraphAssertionException>(() => GraphAssert.NaiveAndSimplifiedAgree(r));
        Assert.Matches(@"\n  output     disagree: \d+ beyond rtol 1E-09 \+ atol [0-9.eE+-]+ of 1 elements", e.Message);
        GraphAssert.NaiveAndSimplifiedAgree(Simplifier.Simplify(naive));
    }

    [Fact]
    public void GivenInputsMustMatchTheDeclarations()
    {
        var r = Simplified("softmax_ce_probs");
        var e = Assert.Throws<ArgumentException>(() => GraphAssert.NaiveAndSimplifiedAgree(r, new Dictionary<string, Tensor> { ["z"] = Tensor.Zeros(DType.F32, 2, 3) }));
        Assert.Contains("input 'z' is declared f32[64, 10], but the value given is f32[2, 3]", e.Message);
        Assert.Throws<AutodiffException>(() => GraphAssert.NaiveAndSimplifiedAgree(r, new Dictionary<string, Tensor> { ["w"] = Tensor.Zeros(DType.F32, 2) }));
    }

    [Fact]
    public void MatchesGoldenWritesTheTextOfGraphText()
    {
        string path = Path.Combine(Path.GetTempPath(), $"autodiff-golden-{Guid.NewGuid():N}.txt");
        try
        {
            var r = Simplified("near_miss_axis");
            // Written by the rule's core (MatchesGolden with update: true refuses to write under CI=true, as in .ci/run).
            Assert.Equal(GoldenStatus.Created, Golden.Check(path, GraphText.Simplified(r, trace: true, nearMisses: true), update: true).Status);
            GraphAssert.MatchesGolden(r, path, trace: true, nearMisses: true);
            var e = Assert.Throws<GraphAssertionException>(() => GraphAssert.MatchesGolden(r, path));
            Assert.Contains("-rewrites (2):", e.Diff);
        }
        finally
        {
            File.Delete(path);
        }
    }
}
