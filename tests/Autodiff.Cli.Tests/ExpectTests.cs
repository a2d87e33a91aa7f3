using Autodiff.Rewrite;
using Autodiff.Testing;
using Autodiff.Text;
using static Autodiff.Cli.Tests.CliRunner;

namespace Autodiff.Cli.Tests;

/// <summary><c>simplify --expect</c> and <c>grad --expect</c>: exit 0 on an equal golden file, 1 with a unified diff on a
/// changed one, 1 with how to create it on a missing one (in another process under CI=true too), <c>--update</c> writes it
/// even under CI=true, usage errors exit 2; and the golden files agree with those of <see cref="GraphAssert"/> and with the
/// text another process prints.</summary>
public sealed class ExpectTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("autodiff-expect-").FullName;

    private string Golden(string name) => Path.Combine(_dir, name);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private const string FusedCe = """
        input z: f32[64, 10]
        input y: f32[64, 10] probs(axis=1)
        input t: i64[64] classes(10)
        loss = mean(softmax_cross_entropy(z, y, axis=1, normalized=true))
        output loss

        """;

    [Fact]
    public void EqualGoldenFilePassesSilently()
    {
        string golden = Golden("ce.txt");
        File.WriteAllText(golden, FusedCe);
        var r = Run("simplify", Sample("softmax_ce_probs"), "--expect", golden);
        Assert.True(r.Code == 0, r.ToString());
        Assert.Equal("", r.Out);
        Assert.Equal("", r.Err);

        File.WriteAllText(golden, FusedCe.ReplaceLineEndings("\r\n").TrimEnd());   // Windows line endings, no final newline
        Assert.Equal(0, Run("simplify", Sample("softmax_ce_probs"), "--expect", golden).Code);
    }

    [Fact]
    public void ChangedGoldenFileExits1WithAUnifiedDiff()
    {
        string golden = Golden("ce.txt");
        File.WriteAllText(golden, FusedCe.Replace("softmax_cross_entropy(z, y, axis=1, normalized=true)", "-sum(y * log_softmax(z, axis=1), axis=1)"));
        string sample = Sample("softmax_ce_probs");
        var r = Run("simplify", sample, "--expect", golden);
        Assert.True(r.Code == 1, r.ToString());
        Assert.Equal($"""
            --- {golden}
            +++ autodiff simplify {sample}
            @@ -1,5 +1,5 @@
             input z: f32[64, 10]
             input y: f32[64, 10] probs(axis=1)
             input t: i64[64] classes(10)
            -loss = mean(-sum(y * log_softmax(z, axis=1), axis=1))
            +loss = mean(softmax_cross_entropy(z, y, axis=1, normalized=true))
             output loss

            """.ReplaceLineEndings("\n"), r.Out);
        Assert.StartsWith($"{golden}: differs from `autodiff simplify {sample}`", r.Err);
        Assert.Contains("--update", r.Err);
        Assert.Contains("-sum(y * log_softmax", File.ReadAllText(golden));   // untouched
    }

    [Fact]
    public void MissingGoldenFileExits1AndSaysHowToCreateIt()
    {
        string golden = Golden("new/ce.txt");
        var r = Run("simplify", Sample("softmax_ce_probs"), "--expect", golden, "--trace");
        Assert.True(r.Code == 1, r.ToString());
        Assert.Equal("", r.Out);
        Assert.Contains($"no such golden file; create it with `autodiff simplify {Sample("softmax_ce_probs")} --trace --expect {golden} --update`", r.Err);
        Assert.False(File.Exists(golden));

        r = Run("simplify", Sample("softmax_ce_probs"), "--expect", golden, "--trace", "--update");
        Assert.True(r.Code == 0, r.ToString());
        Assert.Contains("created", r.Err);
        Assert.Equal(0, Run("simplify", Sample("softmax_ce_probs"), "--expect", golden, "--trace").Code);
        Assert.StartsWith(FusedCe + "\nrewrites (5):\n[stabilize] softmax: ", File.ReadAllText(golden));
    }

    [Fact]
    public void UpdateOverwritesAndShowsWhatChanged()
    {
        string golden = Golden("ce.txt");
        File.WriteAllText(golden, "old\n");
        var r = Run("simplify", Sample("softmax_ce_probs"), "--expect", golden, "--update");
        Assert.True(r.Code == 0, r.ToString());
        Assert.Contains("-old\n+input z: f32[64, 10]", r.Out);
        Assert.Contains("updated", r.Err);
        Assert.Equal(FusedCe, File.ReadAllText(golden));
    }

    [Fact]
    public void AGoldenFileSavedFromTheTextOutputHoldsTheWholeReport()
    {
        string golden = Golden("report.txt"), sample = Sample("near_miss_axis");
        var printed = Run("simplify", sample);
        File.WriteAllText(golden, printed.Out);   // autodiff simplify FILE > GOLDEN
        var r = Run("simplify", sample, "--expect", golden);
        Assert.True(r.Code == 0, r.ToString());

        File.WriteAllText(golden, printed.Out.Replace("fused: log_softmax", "fused: (none)"));
        r = Run("simplify", sample, "--expect", golden);
        Assert.True(r.Code == 1, r.ToString());
        Assert.Contains("\n-fused: (none)\n+fused: log_softmax\n", r.Out);
        Assert.Equal(0, Run("simplify", sample, "--expect", golden, "--update").Code);
        Assert.Equal(printed.Out, File.ReadAllText(golden));   // still the whole report
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(true, false)]
    [InlineData(false, true)]
    [InlineData(true, true)]
    public void GoldenTextIsGraphAssertsText(bool trace, bool nearMisses)
    {
        string golden = Golden("g.txt");
        string[] flags = [.. trace ? ["--trace"] : Array.Empty<string>(), .. nearMisses ? ["--near-misses"] : Array.Empty<string>()];
        var r = Run(["simplify", Sample("near_miss_shared"), "--keep-shared", "--expect", golden, "--update", .. flags]);
        Assert.True(r.Code == 0, r.ToString());
        // What the CLI wrote is what GraphAssert checks (and the other way round); speed first, so there are near misses.
        var result = Simplifier.Simplify(Parser.Parse(File.ReadAllText(Sample("near_miss_shared"))), new SimplifyOptions(Sharing: SharingPolicy.Keep));
        GraphAssert.MatchesGolden(result, golden, trace, nearMisses);
        Assert.Equal(trace, File.ReadAllText(golden).Contains("\nrewrites (", StringComparison.Ordinal));
        Assert.Equal(nearMisses, File.ReadAllText(golden).Contains("\nnear misses (", StringComparison.Ordinal) && File.ReadAllText(golden).Contains("\nsoftmax at ", StringComparison.Ordinal));
    }

    [Fact]
    public void GradComparesThePrintedBackwardGraphs()
    {
        string golden = Golden("grad.txt"), sample = Sample("softmax_ce_probs");
        var printed = Run("grad", sample, "--wrt", "z");
        Assert.Equal(0, printed.Code);
        File.WriteAllText(golden, printed.Out);
        var r = Run("grad", sample, "--wrt", "z", "--expect", golden);
        Assert.True(r.Code == 0, r.ToString());
        Assert.Equal("", r.Out);

        r = Run("grad", sample, "--expect", golden);   // now with grad_y too
        Assert.True(r.Code == 1, r.ToString());
        Assert.Contains("+grad_y = -(log_softmax(z, axis=1) / 64)", r.Out);
        Assert.StartsWith($"--- {golden}\n+++ autodiff grad {sample}\n@@ ", r.Out);

        string missing = Golden("missing.txt");
        r = Run("grad", sample, "--raw", "--expect", missing);
        Assert.True(r.Code == 1, r.ToString());
        Assert.Contains($"create it with `autodiff grad {sample} --raw --expect {missing} --update`", r.Err);
        Assert.Equal(0, Run("grad", sample, "--raw", "--expect", missing, "--update").Code);
        Assert.Contains("t1 = reshape(broadcast_to(reshape(1, shape=1), shape=64) / 64, shape=(64, 1))", File.ReadAllText(missing));
    }

    [Theory]
    [InlineData("simplify", "--update")]
    [InlineData("simplify", "--trace")]
    [InlineData("simplify", "--near-misses")]
    [InlineData("grad", "--update")]
    [InlineData("simplify", "--json", "--expect", "GOLDEN")]
    [InlineData("simplify", "--dot", "--expect", "GOLDEN")]
    [InlineData("simplify", "--expect", "-")]
    [InlineData("grad", "--expect", "-")]
    public void UsageErrorsExit2(string verb, params string[] options)
    {
        string golden = Golden("usage.txt");
        var r = Run([verb, Sample("softmax_ce_probs"), .. options.Select(o => o == "GOLDEN" ? golden : o)]);
        Assert.True(r.Code == 2, r.ToString());
        Assert.Equal("", r.Out);
        Assert.False(File.Exists(golden));
    }

    [Fact]
    public void AGoldenFileThatIsADirectoryIsAUserError()
    {
        var r = Run("simplify", Sample("softmax_ce_probs"), "--expect", _dir);
        Assert.True(r.Code == 2, r.ToString());
        Assert.Contains("is a directory", r.Err);
    }

    // ---- in other processes ----

    [Fact]
    public void UnderCiAMissingGoldenFileFailsAndUpdateStillWrites()
    {
        string golden = Golden("ci.txt"), sample = Sample("softmax_ce_probs");
        var r = Process(("CI", "true"), ["simplify", sample, "--expect", golden]);
        Assert.True(r.Code == 1, r.ToString());
        Assert.Contains("no such golden file", r.Err);
        Assert.False(File.Exists(golden));

        r = Process(("CI", "true"), ["simplify", sample, "--expect", golden, "--update"]);
        Assert.True(r.Code == 0, r.ToString());
        Assert.Equal(FusedCe, File.ReadAllText(golden));
    }

    [Theory]
    [InlineData("simplify", "mlp_classifier")]
    [InlineData("simplify", "crf_log_likelihood")]
    [InlineData("grad", "label_smoothing")]
    public void AnotherProcessPrintsTheSameText(string verb, string sample)
    {
        // Written here, checked by a process with other JIT settings, another culture and its own string hashing.
        string golden = Golden(sample + ".txt");
        string[] options = verb == "simplify" ? ["--trace", "--near-misses"] : [];
        var here = Run([verb, Sample(sample), "--expect", golden, "--update", .. options]);
        Assert.True(here.Code == 0, here.ToString());
        var there = Process(("DOTNET_TieredCompilation", "0"), [verb, Sample(sample), "--expect", golden, .. options]);
        Assert.True(there.Code == 0, there.ToString());
    }

    /// <summary>Runs the tool in a new process with one more environment variable and another culture.</summary>
    private static Result Process((string Name, string Value) variable, string[] args) =>
        Exec(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet", [typeof(Program).Assembly.Location, .. args],
            variable, ("LC_ALL", "de_DE.UTF-8"), ("LANG", "de_DE.UTF-8"));
}
