namespace Autodiff.Cli.Tests;

/// <summary>Runs the tool in-process and locates the repository's sample programs.</summary>
internal static class CliRunner
{
    public sealed record Result(int Code, string Out, string Err)
    {
        public override string ToString() => $"exit {Code}\n--- stdout\n{Out}\n--- stderr\n{Err}";
    }

    public static Result Run(params string[] args) => RunWithStdin("", args);

    public static Result RunWithStdin(string stdin, params string[] args)
    {
        var output = new StringWriter { NewLine = "\n" };
        var error = new StringWriter { NewLine = "\n" };
        int code = Program.Run(args, new StringReader(stdin), output, error);
        return new Result(code, output.ToString(), error.ToString());
    }

    private static readonly Lazy<string> root = new(() =>
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Autodiff.sln"))) return dir.FullName;
        throw new InvalidOperationException($"Autodiff.sln not found above {AppContext.BaseDirectory}");
    });

    public static string RepoRoot => root.Value;

    public static string SamplesDir => Path.Combine(RepoRoot, "samples", "programs");

    public static string Sample(string name) => Path.Combine(SamplesDir, name + ".ad");

    public static IEnumerable<string> SampleNames() =>
        Directory.GetFiles(SamplesDir, "*.ad").Select(p => Path.GetFileNameWithoutExtension(p)).Order(StringComparer.Ordinal);

    public static TheoryData<string> Samples()
    {
        var data = new TheoryData<string>();
        foreach (var s in SampleNames()) data.Add(s);
        return data;
    }

    /// <summary>A temporary file with the given text, deleted on dispose.</summary>
    public sealed class TempFile : IDisposable
    {
        public TempFile(string text, string extension = ".ad")
        {
            Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"autodiff-cli-{Guid.NewGuid():N}{extension}");
            File.WriteAllText(Path, text);
        }

        public string Path { get; }

        public void Dispose() => File.Delete(Path);
    }
}
