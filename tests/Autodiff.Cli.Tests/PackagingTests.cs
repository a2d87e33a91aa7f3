using System.IO.Compression;
using System.Reflection;
using static Autodiff.Cli.Tests.CliRunner;

namespace Autodiff.Cli.Tests;

/// <summary>Packs the library and the tool with <c>dotnet pack</c> into a temporary folder (from the build this test run
/// already made, so no second build), checks the library package's metadata, installs the tool from the local package
/// into a temporary tool path and runs it. Slow next to the unit tests (seconds, several processes): filter it out with
/// <c>--filter Category!=Packaging</c>.</summary>
[Trait("Category", "Packaging")]
public sealed class PackagingTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), $"autodiff-pack-{Guid.NewGuid():N}");

    public void Dispose()
    {
        if (Directory.Exists(_dir)) Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public void PackedToolInstallsIntoAToolPathAndRuns()
    {
        // A version no other source can have, so that the install can only pick the package made here.
        string version = $"0.0.0-packtest.{DateTime.UtcNow:yyyyMMddHHmmss}";
        string nupkgs = Path.Combine(_dir, "nupkgs"), tools = Path.Combine(_dir, "tools");
        string configuration = typeof(PackagingTests).Assembly.GetCustomAttribute<AssemblyConfigurationAttribute>()!.Configuration;
        foreach (var project in new[] { "src/Autodiff/Autodiff.csproj", "src/Autodiff.Onnx/Autodiff.Onnx.csproj", "src/Autodiff.Testing/Autodiff.Testing.csproj", "src/Autodiff.Cli/Autodiff.Cli.csproj" })
            Dotnet("pack", project, "-c", configuration, "--no-build", "-o", nupkgs, $"-p:PackageVersion={version}");

        using (var zip = ZipFile.OpenRead(Path.Combine(nupkgs, $"SimplifyingAutodiff.{version}.nupkg")))
        {
            var entries = zip.Entries.Select(e => e.FullName).ToArray();
            Assert.Contains("README.md", entries);
            using (var readme = new StreamReader(zip.GetEntry("README.md")!.Open()))
                Assert.DoesNotMatch(@"\]\((?!https?://)", readme.ReadToEnd());   // a relative link is dead on the feed
            Assert.Contains("lib/net10.0/Autodiff.dll", entries);
            Assert.Contains("lib/net10.0/Autodiff.xml", entries);
            using var reader = new StreamReader(zip.GetEntry("SimplifyingAutodiff.nuspec")!.Open());
            string nuspec = reader.ReadToEnd();
            Assert.Contains("<license type=\"expression\">MIT</license>", nuspec);
            Assert.Contains("<readme>README.md</readme>", nuspec);
            Assert.Contains("<id>SimplifyingAutodiff</id>", nuspec);
            Assert.Contains("<repository type=\"git\"", nuspec);
            Assert.DoesNotContain("Google.Protobuf", nuspec);   // the ONNX serializer is the Autodiff.Onnx package
            Assert.DoesNotContain(RepoRoot, nuspec);
        }
        using (var zip = ZipFile.OpenRead(Path.Combine(nupkgs, $"Autodiff.Onnx.{version}.nupkg")))
        {
            var entries = zip.Entries.Select(e => e.FullName).ToArray();
            Assert.Contains("interop.md", entries);
            Assert.Contains("lib/net10.0/Autodiff.Onnx.dll", entries);
            using var reader = new StreamReader(zip.GetEntry("Autodiff.Onnx.nuspec")!.Open());
            string nuspec = reader.ReadToEnd();
            Assert.Contains($"<dependency id=\"SimplifyingAutodiff\" version=\"{version}\"", nuspec);
            Assert.Contains("<dependency id=\"Google.Protobuf\"", nuspec);
        }
        Assert.True(File.Exists(Path.Combine(nupkgs, $"SimplifyingAutodiff.{version}.snupkg")));
        using (var zip = ZipFile.OpenRead(Path.Combine(nupkgs, $"Autodiff.Testing.{version}.nupkg")))
        {
            var entries = zip.Entries.Select(e => e.FullName).ToArray();
            Assert.Contains("testing.md", entries);
            Assert.Contains("lib/net10.0/Autodiff.Testing.xml", entries);
            using var reader = new StreamReader(zip.GetEntry("Autodiff.Testing.nuspec")!.Open());
            string nuspec = reader.ReadToEnd();
            Assert.Contains($"<dependency id=\"SimplifyingAutodiff\" version=\"{version}\"", nuspec);
            Assert.Contains("<dependency id=\"DiffPlex\"", nuspec);
        }

        Dotnet("tool", "install", "Autodiff.Cli", "--tool-path", tools, "--add-source", nupkgs, "--version", version);
        var run = Exec(Path.Combine(tools, "autodiff"), ["simplify", "samples/programs/softmax_ce_probs.ad"]);
        Assert.True(run.Code == 0, run.ToString());
        Assert.Contains("fused: softmax_cross_entropy", run.Out);
    }

    private static void Dotnet(params string[] args)
    {
        var r = Exec(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet", args);
        Assert.True(r.Code == 0, $"dotnet {string.Join(' ', args)}\n{r}");
    }
}
