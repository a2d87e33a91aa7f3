using System.Reflection;
using static Autodiff.Cli.Tests.CliRunner;

namespace Autodiff.Cli.Tests;

/// <summary>Runs every sample project under samples/ briefly (small arguments), from the build this test run made (the
/// test project references each sample so that it is built first), so that a sample that no longer builds or crashes
/// fails the test suite. A sample added without a row here fails <see cref="EverySampleHasARow"/>.</summary>
public class SampleProjectTests
{
    /// <summary>Sample, short-run arguments, and a text its output must contain.</summary>
    public static TheoryData<string, string[], string> Samples() => new()
    {
        { "CrfTagger", ["7"], "" },
        { "Digits", ["--epochs", "2"], "test accuracy: " },
        { "Estimators", ["1"], "" },
        { "IrisSoftmax", [], "accuracy" },
        { "SkipGram", ["200"], "" },
        { "StochasticBeams", ["200"], "" },
    };

    [Fact]
    public void EverySampleHasARow()
    {
        var projects = Directory.GetDirectories(Path.Combine(RepoRoot, "samples")).Where(d => Directory.GetFiles(d, "*.csproj").Length > 0).Select(Path.GetFileName).Order(StringComparer.Ordinal);
        Assert.Equal(projects, Samples().Select(r => (string)r[0]).Order(StringComparer.Ordinal));
    }

    [Theory, MemberData(nameof(Samples))]
    public void SampleRunsBriefly(string sample, string[] args, string expected)
    {
        string configuration = typeof(SampleProjectTests).Assembly.GetCustomAttribute<AssemblyConfigurationAttribute>()!.Configuration;
        string dll = Path.Combine(RepoRoot, "samples", sample, "bin", configuration, "net10.0", sample + ".dll");
        Assert.True(File.Exists(dll), $"{dll} was not built");
        var r = Exec(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet", [dll, .. args]);
        Assert.True(r.Code == 0, $"{sample} {string.Join(' ', args)} exited with {r.Code}\n{r}");
        Assert.Contains(expected, r.Out);
        if (sample == "Digits") Assert.Matches(@"test accuracy: [01]\.\d{3}\n?$", r.Out);
    }
}
