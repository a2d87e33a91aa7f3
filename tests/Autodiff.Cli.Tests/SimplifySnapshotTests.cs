using Snapshooter;
using Snapshooter.Xunit;
using static Autodiff.Cli.Tests.CliRunner;

namespace Autodiff.Cli.Tests;

/// <summary>Snapshots of the text output of <c>simplify</c> for each sample (created on first run; reviewed by hand).</summary>
public class SimplifySnapshotTests
{
    public static TheoryData<string> All => Samples();

    [Theory, MemberData(nameof(All))]
    public void SimplifyOutput(string sample)
    {
        var r = Run("simplify", Sample(sample));
        Assert.True(r.Code == 0, r.ToString());
        // The output names the program only through its text, so it does not depend on where the repository is.
        Snapshot.Match(r.Out, SnapshotNameExtension.Create(sample));
    }

    /// <summary>With <c>--recompute-shared</c>, the near misses of a shared intermediate become rewrites that note the recompute.</summary>
    [Theory]
    [InlineData("near_miss_shared")]
    [InlineData("sigmoid_bce")]
    public void SimplifyRecomputeSharedOutput(string sample)
    {
        var r = Run("simplify", Sample(sample), "--recompute-shared");
        Assert.True(r.Code == 0, r.ToString());
        Snapshot.Match(r.Out, SnapshotNameExtension.Create(sample));
    }

    [Fact]
    public void SimplifyRecomputeSharedJson()
    {
        var r = Run("simplify", Sample("near_miss_shared"), "--recompute-shared", "--json");
        Assert.True(r.Code == 0, r.ToString());
        Snapshot.Match(r.Out);
    }

    [Fact]
    public void SimplifyOutputIsDeterministic()
    {
        var a = Run("simplify", Sample("softmax_ce_probs"));
        var b = Run("simplify", Sample("softmax_ce_probs"));
        Assert.Equal(a.Out, b.Out);
    }
}
