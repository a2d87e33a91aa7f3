using Autodiff.Testing;

namespace Autodiff.Tests.Testing;

/// <summary>The golden-file rule (<see cref="Golden"/>): compared line by line, never created or overwritten unless asked,
/// and in C# never written under CI=true even when asked. The environment is passed in, so these tests do not depend on
/// (or change) the variables of the test run.</summary>
public sealed class GoldenTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("autodiff-golden-").FullName;

    private string File(string name) => Path.Combine(_dir, name);

    public void Dispose()
    {
        Directory.Delete(_dir, recursive: true);
    }

    private static Func<string, string?> Env(params (string Name, string Value)[] vars) =>
        name => vars.FirstOrDefault(v => v.Name == name).Value;

    [Fact]
    public void CheckCreatesOnlyWhenAskedAndReportsTheDiff()
    {
        string path = File("sub/loss.txt");
        Assert.Equal(GoldenStatus.Missing, Golden.Check(path, "a\nb", update: false).Status);
        Assert.False(System.IO.File.Exists(path));

        var created = Golden.Check(path, "a\nb", update: true);
        Assert.Equal(GoldenStatus.Created, created.Status);
        Assert.Equal("a\nb\n", System.IO.File.ReadAllText(path));

        Assert.Equal(GoldenStatus.Matched, Golden.Check(path, "a\nb\n", update: false).Status);
        System.IO.File.WriteAllText(path, "a\r\nb\r\n");   // checked out with Windows line endings
        Assert.Equal(GoldenStatus.Matched, Golden.Check(path, "a\nb", update: false).Status);

        var different = Golden.Check(path, "a\nc", update: false, actualLabel: "now");
        Assert.Equal(GoldenStatus.Different, different.Status);
        Assert.False(different.Passed);
        Assert.Equal($"--- {path}\n+++ now\n@@ -1,2 +1,2 @@\n a\n-b\n+c\n", different.Diff);
        Assert.Equal("a\r\nb\r\n", System.IO.File.ReadAllText(path));

        var updated = Golden.Check(path, "a\nc", update: true);
        Assert.Equal(GoldenStatus.Updated, updated.Status);
        Assert.Contains("+c", updated.Diff);
        Assert.Equal("a\nc\n", System.IO.File.ReadAllText(path));
    }

    [Fact]
    public void MatchFailsOnAMissingFileAndSaysHowToCreateIt()
    {
        string path = File("missing.txt");
        var e = Assert.Throws<GraphAssertionException>(() => Golden.Match("x", path, false, Env()));
        Assert.Contains("does not exist", e.Message);
        Assert.Contains(Golden.UpdateVariable + "=1", e.Message);
        Assert.False(System.IO.File.Exists(path));
    }

    [Theory]
    [InlineData("true")]
    [InlineData("1")]
    [InlineData("True")]
    public void MatchNeverWritesUnderCi(string ci)
    {
        string path = File("ci.txt");
        var e = Assert.Throws<GraphAssertionException>(() => Golden.Match("x", path, false, Env(("CI", ci), (Golden.UpdateVariable, "1"))));
        Assert.Contains("never created in CI", e.Message);
        Assert.False(System.IO.File.Exists(path));

        e = Assert.Throws<GraphAssertionException>(() => Golden.Match("x", path, update: true, Env(("CI", ci))));
        Assert.False(System.IO.File.Exists(path));

        System.IO.File.WriteAllText(path, "old\n");
        e = Assert.Throws<GraphAssertionException>(() => Golden.Match("new", path, update: true, Env(("CI", ci))));
        Assert.Contains("never written in CI", e.Message);
        Assert.Contains("-old\n+new", e.Message);
        Assert.Equal("old\n", System.IO.File.ReadAllText(path));

        Golden.Match("old", path, false, Env(("CI", ci)));   // an equal file passes in CI
    }

    [Fact]
    public void MatchWritesWhenAskedOutsideCi()
    {
        string path = File("asked.txt");
        Golden.Match("x", path, false, Env((Golden.UpdateVariable, "1"), ("CI", "false")));
        Assert.Equal("x\n", System.IO.File.ReadAllText(path));
        Golden.Match("y", path, update: true, Env());
        Assert.Equal("y\n", System.IO.File.ReadAllText(path));

        var e = Assert.Throws<GraphAssertionException>(() => Golden.Match("z", path, false, Env()));
        Assert.Equal($"--- {path}\n+++ actual\n@@ -1 +1 @@\n-y\n+z\n", e.Diff);
        Assert.Contains(e.Diff, e.Message);
        Assert.Equal("y\n", System.IO.File.ReadAllText(path));
    }

    [Fact]
    public void NextToSourceIsInTheCallersFolder() =>
        Assert.Equal(Path.Combine(Path.GetDirectoryName(ThisFile())!, "golden", "x.txt"), Golden.NextToSource("golden/x.txt".Replace('/', Path.DirectorySeparatorChar)));

    private static string ThisFile([System.Runtime.CompilerServices.CallerFilePath] string path = "") => path;
}
