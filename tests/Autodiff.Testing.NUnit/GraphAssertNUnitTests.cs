using Autodiff.Rewrite;
using Autodiff.Testing;
using Autodiff.Text;

namespace Autodiff.Testing.NUnit;

/// <summary>The graph assertions in an NUnit project: they pass where they should, and a failure reaches NUnit as an
/// exception whose message holds the diff or the reason.</summary>
public class GraphAssertNUnitTests
{
    private const string Program = """
        input z: f32[16, 10]
        input t: i64[16] classes(10)
        e = exp(z)
        q = e / sum(e, axis=1, keepdims=true)
        loss = -mean(sum(one_hot(t, 10) * log(q), axis=1))
        output loss
        """;

    private static SimplifyResult Simplified() => Simplifier.Simplify(Parser.Parse(Program));

    private string _dir = "";

    [SetUp]
    public void MakeFolder() => _dir = Directory.CreateTempSubdirectory("autodiff-nunit-").FullName;

    [TearDown]
    public void RemoveFolder() => Directory.Delete(_dir, recursive: true);

    [Test]
    public void FusedLossPassesEveryAssertion()
    {
        var r = Simplified();
        GraphAssert.HasFusedOp(r, "sparse_softmax_cross_entropy");
        GraphAssert.NoNearMisses(r);
        GraphAssert.NaiveAndSimplifiedAgree(r);
        GraphAssert.NaiveAndSimplifiedAgree(r, seed: 3, scale: 5);
    }

    [Test]
    public void AFailedTextComparisonCarriesTheDiff()
    {
        var r = Simplified();
        string printed = Printer.Print(r.After);
        GraphAssert.SimplifiesTo(r, printed);
        var e = Assert.Throws<GraphAssertionException>(() => GraphAssert.SimplifiesTo(r, printed.Replace("loss =", "lost =")));
        Assert.That(e!.Diff, Does.StartWith("--- expected\n+++ simplified\n@@ "));
        Assert.That(e.Message, Does.Contain("\n-lost = ").And.Contain("\n+loss = "));
    }

    [Test]
    public void FailuresNameTheMissingOpAndTheDisagreement()
    {
        var r = Simplified();
        var e = Assert.Throws<GraphAssertionException>(() => GraphAssert.HasFusedOp(r, "logsumexp"));
        Assert.That(e!.Message, Does.Contain("expected the fused op 'logsumexp'"));
        e = Assert.Throws<GraphAssertionException>(() => GraphAssert.NaiveAndSimplifiedAgree(r, scale: 1000));
        Assert.That(e!.Message, Does.Contain("non-finite only in the actual"));
    }

    [Test]
    public void GoldenFilesAreWrittenOnlyWhenAsked()
    {
        string path = Path.Combine(_dir, "loss.txt");
        var r = Simplified();
        // The test run's own environment decides whether writing may happen: not under CI=true.
        bool ci = Golden.IsSet(Environment.GetEnvironmentVariable("CI"));
        var e = Assert.Throws<GraphAssertionException>(() => GraphAssert.MatchesGolden(r, path, trace: true));
        Assert.That(e!.Message, Does.Contain("does not exist"));
        Assert.That(File.Exists(path), Is.False);
        if (ci)
        {
            Assert.Throws<GraphAssertionException>(() => GraphAssert.MatchesGolden(r, path, trace: true, update: true));
            Assert.That(File.Exists(path), Is.False);
            File.WriteAllText(path, GraphText.Simplified(r, trace: true));
        }
        else
        {
            GraphAssert.MatchesGolden(r, path, trace: true, update: true);
        }
        GraphAssert.MatchesGolden(r, path, trace: true);
        Assert.That(File.ReadAllText(path), Does.Contain("rewrites ("));
    }
}
